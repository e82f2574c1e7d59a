"""cctview-camsim: a local stand-in for the webcams.nyctmc.org camera API (see docs/camsim.md).

Modules: ``catalog`` (synthetic or real camera list), ``geography`` (borough outlines, street
grid), ``frames`` and ``jpegsplice`` (cheap JPEG frames), ``faults`` (fault spec) and
``responses`` (fault behaviours), ``stats`` (what was served), ``tls`` (self-signed
certificate), ``server`` (aiohttp app), ``main`` (the command).
"""
