"""Recognising the service's "camera offline" card without knowing it in advance.

The service serves the same placeholder bytes for every offline camera, while two live cameras
never produce the same frame: a digest that two cameras served is a placeholder from then on (the
PNG card is recognised at once by its signature, pictures.py; this catches a JPEG card too).

The first camera to serve it stored it as a frame before the second revealed it. Its copy is taken
back only while its period is open: once the period's manifest is written, the manifest lists the
frame and the sync needs it, so the frame stays (counted in the log, not unlinked). Before this
rule a late take-back left a closed period that failed every sync for ever.
"""

from __future__ import annotations

from typing import Protocol


class Owner(Protocol):
    def take_back_placeholder(self, digest: str) -> None: ...


class PlaceholderRegistry:
    """Digests known to be placeholders, and which camera last stored each other digest."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.last_owner: dict[str, Owner] = {}

    def release(self, digest: str | None, owner: Owner) -> None:
        if digest is not None and self.last_owner.get(digest) is owner:
            del self.last_owner[digest]

    def claim(self, digest: str, owner: Owner) -> Owner | None:
        """Record ``owner`` as having stored ``digest``; return another camera that did too."""
        other = self.last_owner.get(digest)
        if other is not None and other is not owner:
            self.known.add(digest)
            del self.last_owner[digest]
            return other
        self.last_owner[digest] = owner
        return None
