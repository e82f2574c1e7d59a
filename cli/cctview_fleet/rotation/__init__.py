"""Rotating a node's data volume without losing a frame: states, EC2, node side."""
