"""cctview-fleet: the operator's CLI and library for a fleet of camera-collecting nodes."""

from cctview_agent import __version__

__all__ = ["__version__"]
