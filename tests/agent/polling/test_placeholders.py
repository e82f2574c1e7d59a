"""Placeholder recognition: the digest that two cameras served is the offline card."""

from __future__ import annotations

from cctview_agent.polling.placeholders import PlaceholderRegistry


def test_placeholder_is_the_digest_two_cameras_served() -> None:
    registry = PlaceholderRegistry()
    a, b = object(), object()
    assert registry.claim("d1", a) is None
    assert registry.claim("d1", b) is a  # the second camera reveals it
    assert "d1" in registry.known
    assert registry.claim("d2", a) is None
    registry.release("d2", a)
    assert registry.claim("d2", b) is None  # a moved on: no longer a shared digest
