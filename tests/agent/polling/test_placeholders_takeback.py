"""The placeholder take-back (issue 10): a frame a closed manifest lists is never unlinked.

Camera A stores picture D just before its period closes; later camera B serves the same bytes,
which reveals D as the service's shared placeholder. Before the fix, A unlinked D and that period
failed every sync for ever ("frame ...jpg is listed in its manifest but missing on disk"). Driven
through the real Agent parts (store, closer, registry, pollers), with explicit times.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from cctview_agent.cameras import Camera
from cctview_agent.config import AgentConfig
from cctview_agent.layout import DataLayout
from cctview_agent.manifests import Manifest
from cctview_agent.periods import Period
from cctview_agent.polling.poller import CameraPoller
from cctview_agent.service.runner import Agent
from tests.agent.agentproc import RecordingLog, check_data_tree


def _jpeg(shade: int) -> bytes:
    """A JPEG card (a service could serve its placeholder as a JPEG, too): one flat picture."""
    buffer = io.BytesIO()
    Image.new("RGB", (352, 240), (shade, shade, shade)).save(buffer, "JPEG", quality=75)
    return buffer.getvalue() + bytes(2048)  # never "tiny"


def _agent(tmp_path: Path) -> tuple[Agent, RecordingLog]:
    log = RecordingLog()
    config = AgentConfig(data_dir=tmp_path / "data", period=60, grace=1, reserve_bytes=0)
    (tmp_path / "data").mkdir()
    return Agent(config, log), log  # type: ignore[arg-type]


def _camera(name: str) -> Camera:
    return Camera(id=name, name=name, latitude=40.7, longitude=-74.0, image_url="http://x/")


def test_a_frame_listed_by_a_closed_manifest_is_kept(tmp_path: Path) -> None:
    agent, log = _agent(tmp_path)
    a, b = CameraPoller(_camera("cam-a"), agent), CameraPoller(_camera("cam-b"), agent)
    period = Period(1_743_771_600, 60)
    card = _jpeg(90)
    assert a._handle_body(card, period.start + 58.0) == "new"  # just before the period ends
    agent.store.close()
    assert agent.closer.close_due(now=period.end + 2) == 1  # closed: its manifest lists the card
    root = tmp_path / "data"
    manifest = Manifest.read(DataLayout(root).manifest_path("cam-a", period))
    assert len(manifest.frames) == 1

    assert b._handle_body(card, period.end + 30.0) == "offline"  # B reveals the card

    assert b.state == "offline" and card_known(agent, card)
    frame = DataLayout(root).frame_path("cam-a", manifest.frames[0].ts_ms)
    assert frame.exists(), "a frame its closed manifest lists was unlinked"
    assert check_data_tree(root).problems == []
    assert ("placeholder_kept", {"camera": "cam-a", "frame": str(frame), "period": period.key}) in (
        log.lines
    )


def test_a_frame_of_an_open_period_is_taken_back(tmp_path: Path) -> None:
    agent, _log = _agent(tmp_path)
    a, b = CameraPoller(_camera("cam-a"), agent), CameraPoller(_camera("cam-b"), agent)
    period = Period(1_743_771_600, 60)
    card = _jpeg(90)
    assert a._handle_body(card, period.start + 10.0) == "new"
    assert b._handle_body(card, period.start + 20.0) == "offline"
    assert a.frames_stored == 0 and a.placeholders == 1 and a.state == "offline"
    assert not list(DataLayout(tmp_path / "data").frames_root.rglob("*.jpg"))
    agent.store.close()
    assert agent.closer.close_due(now=period.end + 2) == 2
    manifest = Manifest.read(DataLayout(tmp_path / "data").manifest_path("cam-a", period))
    assert manifest.frames == () and manifest.placeholders == 1


def card_known(agent: Agent, card: bytes) -> bool:
    from cctview_agent.manifests import frame_digest

    return frame_digest(card) in agent.placeholders.known
