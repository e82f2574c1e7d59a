"""Sizing a fleet for a selection: nodes, storage, request rate, what it costs."""
