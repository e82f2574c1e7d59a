"""A node's data volumes: find and mount, prepare and switch, drain and retire."""
