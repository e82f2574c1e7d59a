"""Helpers for agent tests: start the real ``cctview-agent run`` as a subprocess, read its
status, and check a data folder the way a reader would (whole JPEGs, complete manifests).

Not a fixture module: tests import these functions; every process started here is stopped by the
caller's ``with`` block, even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cctview_agent.atomicfile import is_temporary
from cctview_agent.cameras import dump_cameras, parse_cameras
from cctview_agent.errors import ManifestError
from cctview_agent.layout import DataLayout, frame_timestamp
from cctview_agent.manifests import Manifest, frame_digest

START_TIMEOUT = 20.0


def agent_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CCTVIEW_AGENT_CONFIG", None)
    return env


def write_config(folder: Path, **settings: Any) -> Path:
    """An agent TOML in ``folder`` with test-friendly defaults, overridden by ``settings``."""
    values: dict[str, Any] = {
        "data_dir": str(folder / "data"),
        "assignment": str(folder / "assignment.json"),
        "log_file": str(folder / "agent.log"),
        "status_file": str(folder / "run" / "status.json"),
        "poll_interval": 1.0,
        "period": 5,
        "grace": 1.0,
        "timeout": 2.0,
        "reserve_bytes": 0,
        "node": "node-test",
    }
    values.update(settings)
    lines = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, str | Path):
            lines.append(f'{key} = "{value}"')
        else:
            lines.append(f"{key} = {value!r}")
    path = folder / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_assignment_from(sim: Any, path: Path, ids: Sequence[str] | None = None) -> list[str]:
    """The simulator's catalog (as served) written as an assignment; returns the ids."""
    cameras = parse_cameras(sim.cameras())
    if ids is not None:
        wanted = set(ids)
        cameras = [camera for camera in cameras if camera.id in wanted]
    path.write_text(dump_cameras(cameras))
    return [camera.id for camera in cameras]


def run_cli(config: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cctview_agent.main", "--config", str(config), *args],
        input=stdin,
        capture_output=True,
        timeout=30,
        env=agent_env(),
    )


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


@dataclass
class AgentProcess:
    """A running agent subprocess and the paths of its config."""

    config: Path
    status_file: Path
    log_file: Path
    process: subprocess.Popen[bytes]
    stderr_path: Path
    exits: list[float] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def status(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.status_file.read_bytes())
        except (OSError, ValueError):
            return None

    def wait_running(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"agent exited with {self.process.returncode}: {self.stderr()}"
                )
            status = self.status()
            return status if status and status.get("pid") == self.pid else None

        return wait_for(ready, timeout, "the agent's first status")

    def camera(self, camera_id: str) -> dict[str, Any]:
        status = self.status() or {}
        for camera in status.get("cameras", []):
            if camera["id"] == camera_id:
                return camera
        raise KeyError(camera_id)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took)."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(f"agent ignored SIGTERM for {timeout}s") from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def start_agent(config: Path) -> AgentProcess:
    from cctview_agent.config import load_config

    settings = load_config(config)
    stderr_path = config.parent / f"agent-stderr-{time.monotonic_ns()}.txt"
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "cctview_agent.main", "--config", str(config), "run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=agent_env(),
        )
    return AgentProcess(config, settings.status_file, settings.log_file, process, stderr_path)


@contextlib.contextmanager
def running_agent(config: Path, *, wait: bool = True) -> Iterator[AgentProcess]:
    agent = start_agent(config)
    try:
        if wait:
            agent.wait_running()
        yield agent
    finally:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait(10)


def log_events(log_file: Path) -> list[dict[str, Any]]:
    if not log_file.exists():
        return []
    return [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]


# -- what a reader of the data folder may rely on --------------------------------------------------


def is_whole_jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8") and data.rstrip(b"\x00")[-2:] == b"\xff\xd9"


@dataclass
class TreeReport:
    frames: int = 0
    manifests: int = 0
    temporaries: list[Path] = field(default_factory=list)
    bad_frames: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_data_tree(root: Path, *, allow_temporaries: bool = False) -> TreeReport:
    """Every frame a whole JPEG, every manifest parseable and matching the frames it lists."""
    report = TreeReport()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if is_temporary(path):
                report.temporaries.append(path)
            elif name.endswith(".jpg"):
                report.frames += 1
                if not is_whole_jpeg(path.read_bytes()):
                    report.bad_frames.append(path)
    layout = DataLayout(root)
    for camera_id, period, path in layout.manifests():
        report.manifests += 1
        try:
            manifest = Manifest.read(path)
        except ManifestError as exc:
            report.problems.append(f"{path}: {exc}")
            continue
        on_disk = {p.name: p for _ts, p in layout.frames_in(camera_id, period)}
        listed = {record.name for record in manifest.frames}
        if listed != set(on_disk):
            report.problems.append(
                f"{path}: lists {len(listed)} frames, folder has {len(on_disk)} "
                f"(missing {sorted(listed - set(on_disk))[:3]}, unlisted "
                f"{sorted(set(on_disk) - listed)[:3]})"
            )
        for record in manifest.frames:
            frame = on_disk.get(record.name)
            if frame is None:
                continue
            data = frame.read_bytes()
            if len(data) != record.size or frame_digest(data) != record.digest:
                report.problems.append(f"{path}: {record.name} does not match its record")
            if frame_timestamp(record.name) != record.ts_ms:
                report.problems.append(f"{path}: {record.name} has ts {record.ts_ms}")
    if report.temporaries and not allow_temporaries:
        report.problems.append(f"temporaries left: {report.temporaries[:3]}")
    if report.bad_frames:
        report.problems.append(f"partial or invalid JPEGs: {report.bad_frames[:3]}")
    return report


def frame_times(root: Path, camera_id: str) -> list[int]:
    times = []
    for _dirpath, _dirs, names in os.walk(DataLayout(root).camera_dir(camera_id)):
        times.extend(ts for ts in map(frame_timestamp, names) if ts is not None)
    return sorted(times)


class RecordingLog:
    """An EventLog stand-in that keeps (event, fields) pairs, for tests of agent parts."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def info(self, event: str, **fields: object) -> None:
        self.lines.append((event, fields))

    warning = error = info
