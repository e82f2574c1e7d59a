"""Polling the cameras: one poller per camera, when to poll, what an answer shows."""
