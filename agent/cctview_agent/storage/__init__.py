"""Frames on the data volume: writing, closing periods, durability, the disk guard."""
