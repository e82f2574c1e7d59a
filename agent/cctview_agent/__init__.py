"""cctview-agent: the node half of cctview-fleet, and the data model both halves share."""

__version__ = "0.1.0"
