"""Production mode: first-booted Debian 12 local nodes (root; mmdebstrap root, overlay per node,
the Pulumi program's own user data run in a chroot). The operator logs in as ``admin`` and
reaches the agent with ``sudo -n -u cctview`` as on AWS; assign, status, logs and sync-s3 run
against them unchanged. One fleet for the whole test run (``debian_fleet``)."""

from __future__ import annotations

import itertools
import json
import os
import pwd
import signal
import stat
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctview_agent import awscalls
from cctview_agent.periods import Period
from cctview_fleet.app import app
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import HOME_ENV, STACK_ENV
from cctview_fleet.devfleet import debianroot, noderoots
from cctview_fleet.devfleet import fleet as devfleet
from cctview_fleet.devfleet.firstboot import SUDOERS
from cctview_fleet.devfleet.nodes import agent_unit
from cctview_fleet.devfleet.processes import marked
from cctview_fleet.rollout.wheels import build_agent_wheel
from cctview_infra.userdata import BOOT_TAGS, READ_TAGS
from tests.agent.agentproc import wait_for
from tests.fixtures.fleet import LocalFleet, require_debian_nodes
from tests.fixtures.s3 import write_period

pytestmark = [pytest.mark.sshd, pytest.mark.root]

CAMERA = "0bcfbc92-d455-4f62-846a-32afbefa3b4b"


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _owner(root: Path, path: Path) -> tuple[str, str, int]:
    """(user, group, mode) of ``path`` by the node's own /etc/passwd and /etc/group."""
    users = {int(f[2]): f[0] for f in (line.split(":") for line in _lines(root / "etc/passwd"))}
    groups = {int(f[2]): f[0] for f in (line.split(":") for line in _lines(root / "etc/group"))}
    info = path.stat()
    return users[info.st_uid], groups[info.st_gid], stat.S_IMODE(info.st_mode)


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line]


def _uid(root: Path, user: str) -> int:
    for fields in (line.split(":") for line in _lines(root / "etc/passwd")):
        if fields[0] == user:
            return int(fields[2])
    raise AssertionError(f"no {user} in {root}/etc/passwd")


def _agent_pid(fleet: LocalFleet, name: str) -> int | None:
    try:
        return int((fleet.paths(name).var / "agent.pid").read_text())
    except (OSError, ValueError):
        return None


def test_first_boot_made_the_node_as_on_ec2(debian_fleet: LocalFleet) -> None:
    """Users, owners, modes, sudo rule and units from the user data; nothing machine-wide."""
    for name in debian_fleet.node_names:
        root = Path(debian_fleet.node(name).root)
        assert (root / "etc/debian_version").read_text().startswith("12.")
        assert _owner(root, root / "etc/cctview") == ("root", "cctview", 0o1775)
        assert _owner(root, root / "etc/cctview/agent.toml") == ("root", "root", 0o644)
        assert _owner(root, root / "var/lib/cctview")[:2] == ("cctview", "cctview")
        assert _owner(root, root / SUDOERS.relative_to("/")) == ("root", "root", 0o440)
        assert (root / SUDOERS.relative_to("/")).read_text() == "admin ALL=(ALL) NOPASSWD:ALL\n"
        installed = root / "etc/systemd/system/cctview-agent.service"
        assert installed.read_text() == agent_unit().read_text()
        assert os.readlink(root / "usr/local/bin/cctview-agent") == (
            "/opt/cctview/venv/bin/cctview-agent"
        )
        # The agent runs inside the node's root as its own user.
        pid = wait_for(lambda n=name: _agent_pid(debian_fleet, n), 30, "the agent's pid file")
        assert os.readlink(f"/proc/{pid}/root") == str(root)
        status = Path(f"/proc/{pid}/status").read_text()
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert int(uid) == _uid(root, "cctview")
        # The wheel and the volume came from the instance's tags (the metadata stand-in).
        boot = json.loads((root / "var/lib/cctview/first-boot.json").read_text())
        assert boot["outcome"] == "ok" and boot["exit"] == 0, boot
        assert _boot_tags(debian_fleet, name)[2] == debian_fleet.node(name).volume_id
    served = (Path(debian_fleet.state.folder) / "logs" / "metadata.log").read_text()
    for name in debian_fleet.node_names:
        assert f'{name}: "GET /latest/meta-data/tags/instance/cctview:agent-key' in served
    for user in ("cctview", "admin"):
        with pytest.raises(KeyError):
            pwd.getpwnam(user)  # users live in the nodes' roots only
    # Each node made its own host key at first boot (the cached root has none).
    keys = {debian_fleet.node(n).host_key for n in debian_fleet.node_names}
    assert len(keys) == len(debian_fleet.node_names)
    assert not list((debianroot.ensure_root() / "etc/ssh").glob("ssh_host_*"))


def _boot_tags(fleet: LocalFleet, name: str) -> list[str]:
    """What the node's first boot would read now (its own reader, as root on the node)."""
    reader = f"sudo -n /opt/cctview/venv/bin/python - {' '.join(BOOT_TAGS)} <<'EOF'\n{READ_TAGS}EOF"
    code, out, err = fleet.ssh(name, reader)
    assert code == 0, err
    return out.split("\n")[:3]


def test_the_login_is_admin_and_the_agent_is_reached_with_sudo(debian_fleet: LocalFleet) -> None:
    stack = debian_fleet.stack
    assert stack.ssh_user == "admin"
    assert stack.agent_command == "sudo -n -u cctview cctview-agent"
    assert stack.agent_root_command == "sudo -n cctview-agent"
    code, out, err = debian_fleet.ssh("node-01", "id -un; sudo -n -u cctview id -un; sudo -n id -u")
    assert (code, out) == (0, "admin\ncctview\n0\n"), err


def test_assign_status_and_logs_over_sudo(debian_fleet: LocalFleet) -> None:
    """`assign` writes the assignment as cctview (it failed with EACCES on every EC2 node while
    first boot left /etc/cctview root-owned 0755); the agents then collect."""
    assigned = cli("assign", "--cameras", "all", "--cameras-per-node", "100", "--json")
    assert assigned.exit_code == 0, assigned.output
    pushed = json.loads(assigned.stdout)["pushed"]
    assert set(pushed) == set(debian_fleet.node_names)
    for name in debian_fleet.node_names:
        root = Path(debian_fleet.node(name).root)
        owner = _owner(root, debian_fleet.paths(name).assignment)
        assert owner == ("cctview", "cctview", 0o644)

    def stored(name: str) -> int:
        try:
            status = json.loads(debian_fleet.paths(name).status.read_text())
            return int(status["totals"]["frames_stored"])
        except (OSError, ValueError, KeyError):
            return 0

    def collecting() -> bool:
        return all(stored(name) > 0 for name in debian_fleet.node_names)

    wait_for(collecting, 90, "frames on every node")
    status = cli("status", "--json")
    assert status.exit_code == 0, status.output
    rows = json.loads(status.stdout)["nodes"]
    assert [n["ok"] for n in rows] == [True] * len(debian_fleet.node_names)
    assert [n["first_boot"] for n in rows] == ["ok"] * len(debian_fleet.node_names)
    logs = cli("logs", "--no-follow", "--tail", "3")
    assert logs.exit_code == 0, logs.output
    for name in debian_fleet.node_names:
        assert name in logs.output


def test_sync_s3_ships_a_closed_period_with_the_instance_role(debian_fleet: LocalFleet) -> None:
    """sync runs as cctview; its credentials come from the emulator's metadata service."""
    period = Period(1743771600, 60)
    data = debian_fleet.paths("node-02").data
    write_period(data, CAMERA, period, 4, node="node-02")
    root = Path(debian_fleet.node("node-02").root)
    uid = _uid(root, "cctview")
    for path in [data, *data.rglob("*")]:
        os.chown(path, uid, uid)  # as the agent would have written them
    result = cli("sync-s3", "node-02", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["node-02"]
    assert (report["uploaded"], report["error"]) == (1, None)
    keys = [
        o["Key"]
        for o in aws.s3(debian_fleet.stack)
        .list_objects_v2(Bucket=debian_fleet.stack.bucket, Prefix="cctview/")
        .get("Contents", [])
    ]
    assert any(CAMERA in key and key.endswith(".tar") for key in keys), keys


def test_a_killed_agent_is_restarted_inside_its_root(debian_fleet: LocalFleet) -> None:
    first = wait_for(lambda: _agent_pid(debian_fleet, "node-01"), 30, "the agent's pid file")
    os.kill(first, signal.SIGKILL)
    second = wait_for(
        lambda: (p := _agent_pid(debian_fleet, "node-01")) not in (None, first) and p,
        60,
        "the supervisor to restart the agent (RestartSec=5)",
    )
    assert os.readlink(f"/proc/{second}/root") == debian_fleet.node("node-01").root
    assert cli("dev", "status").exit_code == 0

    # dev restart: the node's sshd and agent again, sshd on its port with its host key.
    restarted = cli("dev", "restart", "node-02")
    assert restarted.exit_code == 0, restarted.output
    assert "node-02: sshd node-02 pid" in restarted.stdout
    assert cli("dev", "status").exit_code == 0
    assert debian_fleet.ssh("node-02", "sudo -n -u cctview id -un")[:2] == (0, "cctview\n")


# -- mounts: undone by `dev down`, also after a killed `dev up` (no first boot needed) ----------


def test_down_undoes_the_mounts_a_killed_up_left(tmp_path: Path, monkeypatch) -> None:
    require_debian_nodes()
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(STACK_ENV, "local")
    mark = str((tmp_path / "home" / "local").absolute())
    roots = noderoots.fleet_roots(mark)
    root = noderoots.mount_node_root(debianroot.ensure_root(), roots / "node-01")
    try:
        assert len(noderoots.mounts_below(roots)) == 4  # overlay, proc, dev, dev/pts
        assert (root.merged / "proc/self").exists() and (root.merged / "dev/null").exists()
        report = devfleet.down()  # no state file: the `dev up` that mounted them was killed
        assert report.was_up
        assert noderoots.mounts_below(roots) == []
        assert not roots.exists()
        assert devfleet.down().was_up is False
    finally:
        noderoots.unmount_below(roots)
        noderoots.remove_fleet_roots(roots)
    # Two fleets never share a roots folder.
    assert noderoots.fleet_roots(mark) != noderoots.fleet_roots(mark + "-other")


def test_down_after_a_killed_up_during_first_boot(tmp_path: Path, monkeypatch) -> None:
    """`dev up` killed while the nodes boot (apt and pip running in their roots, the pip cache
    bound in): the next `dev down` stops those processes and undoes every mount."""
    require_debian_nodes()
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    mark = str((tmp_path / "local").absolute())
    roots = noderoots.fleet_roots(mark)
    cctview_fleet = str(Path(sys.executable).parent / "cctview-fleet")
    up = subprocess.Popen(
        [cctview_fleet, "dev", "up", "--nodes", "2", "--cameras", "3"],
        env={**os.environ, HOME_ENV: str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        booting = roots / "node-02" / "merged" / "var" / "lib" / "cloud" / "instance"
        wait_for(lambda: booting.exists() and up.poll() is None, 120, "first boot to begin")
        time.sleep(2)  # into the user data: apt-get is running in the roots
    finally:
        up.kill()
        up.wait()
    assert noderoots.mounts_below(roots), "the killed dev up should have left its mounts"
    assert devfleet.down().was_up
    assert noderoots.mounts_below(roots) == []
    assert not roots.exists()
    assert marked(mark, str(roots)) == []


def test_rotate_volumes_moves_a_node_to_a_new_ebs_volume(debian_fleet: LocalFleet) -> None:
    """Block devices as on EC2: the new volume is attached (a loop device with its Nitro by-id
    link in the node's /dev), found by id, formatted and mounted with `sudo -n`; the old one is
    drained through sync, unmounted, detached and deleted."""
    assigned = cli("assign", "--cameras", "all", "--cameras-per-node", "100")
    assert assigned.exit_code == 0, assigned.output
    node = debian_fleet.node("node-01")
    roots = Path(node.root).parent.parent
    old = node.volume_id
    mounted = [p.name for p in noderoots.mounts_below(Path(node.root) / "mnt" / "cctview")]
    assert mounted == [old]  # first boot mounted generation 1 by its id
    result = cli("rotate-volumes", "node-01", "--force", "--drain-timeout", "120", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["nodes"]
    assert (row["outcome"], row["old_fate"]) == ("rotated", "deleted"), row
    new = row["new_volume"]
    mounted = [p.name for p in noderoots.mounts_below(Path(node.root) / "mnt" / "cctview")]
    assert mounted == [new]
    paths = debian_fleet.paths("node-01")
    assert paths.data == Path(node.root) / "mnt" / "cctview" / new
    wait_for(lambda: f"{old}.img" not in {p.name for p in (roots / "volumes").iterdir()}, 30,
             "the deleted volume's file to go")  # fmt: skip
    backing = {path.name for _device, path in noderoots.loops_below(roots)}
    assert f"{new}.img" in backing and f"{old}.img" not in backing
    root = Path(node.root)
    assert _owner(root, paths.data)[:2] == ("cctview", "cctview")
    before = _stored_now(debian_fleet, "node-01")
    wait_for(lambda: _stored_now(debian_fleet, "node-01") > before, 60, "frames on the new volume")
    # A replacement of node-01 would boot onto the new volume: its instance tag says so.
    assert _boot_tags(debian_fleet, "node-01")[2] == new


def test_status_shows_a_failed_first_boot(debian_fleet: LocalFleet) -> None:
    """The state file the user data's `finish` writes, read over SSH: a failed first boot is
    the node's problem even though an agent answers."""
    state = Path(debian_fleet.node("node-02").root) / "var/lib/cctview/first-boot.json"
    kept = state.read_text()
    try:
        state.write_text(json.dumps({"outcome": "failed", "exit": 1, "step": "5/5 systemd units",
                                     "at": "2026-12-01T00:00:00Z"}))  # fmt: skip
        status = cli("status", "--json")
        assert status.exit_code != 0
        rows = {n["node"]: n for n in json.loads(status.stdout)["nodes"]}
        assert rows["node-01"]["first_boot"] == "ok"
        assert rows["node-02"]["ok"] is False
        assert rows["node-02"]["first_boot"] == "failed (exit 1) at step: 5/5 systemd units"
        assert "see /var/log/cctview-bootstrap.log on the node" in rows["node-02"]["problem"]
        table = CliRunner().invoke(app, ["status"], env={"COLUMNS": "300"})
        assert "first boot" in table.output and "failed" in table.output
    finally:
        state.write_text(kept)


def _stored_now(fleet: LocalFleet, name: str) -> int:
    try:
        return int(json.loads(fleet.paths(name).status.read_text())["totals"]["frames_stored"])
    except (OSError, ValueError, KeyError):
        return 0


# -- upgrade on first-booted nodes (sudo, the systemd stand-in's restart) ------------------------


def _frame_times(fleet: LocalFleet, name: str, since_ms: int) -> dict[str, list[int]]:
    """Each camera's stored frame times (ms) on the node's active volume since ``since_ms``."""
    frames = fleet.paths(name).data / "frames"
    times: dict[str, list[int]] = {}
    for path in frames.glob("*/*/*/*.jpg"):
        stamp = int(path.stem)
        if stamp >= since_ms:
            times.setdefault(path.parts[-4], []).append(stamp)
    return {camera: sorted(found) for camera, found in times.items()}


def _frames_lost(times: list[int], switch_from: int, switch_to: int) -> tuple[float, int]:
    """(the camera's usual interval in s, the polls missing in the widest gap that overlaps the
    switch): gap / interval - 1, the frames a steady poller would have stored meanwhile."""
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(times)]
    usual = statistics.median(g for g, _, _ in gaps) if gaps else 1000.0
    around = [g for g, a, b in gaps if b >= switch_from and a <= switch_to]
    widest = max(around, default=usual)
    return usual / 1000, max(0, round(widest / usual) - 1)


def _wheel_variant(good: Path, folder: Path, *, broken: bool) -> Path:
    """The same agent under another digest; ``broken``: its `run` exits 1 at once (`--version`
    and `status` still work), a release that never becomes healthy."""
    folder.mkdir(parents=True, exist_ok=True)
    variant = folder / good.name
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(variant, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "cctview_agent/main.py":
                data += f"\n# variant {folder.name}\n".encode()
                if broken:
                    data += (
                        b"_real_main = main\n\n\ndef main(argv=None):\n"
                        b"    if 'run' in (sys.argv[1:] if argv is None else list(argv)):\n"
                        b"        sys.exit(1)\n    return _real_main(argv)\n"
                    )
            target.writestr(item, data)
    return variant


@awscalls.acting_as(awscalls.DEPLOYER)  # the test looking at EC2, not the CLI
def _upgrade_tag(fleet: LocalFleet, name: str) -> str:
    found = aws.ec2(fleet.stack).describe_tags(
        Filters=[{"Name": "resource-id", "Values": [fleet.node(name).instance_id]},
                 {"Name": "key", "Values": ["cctview:upgrade"]}]
    )["Tags"]  # fmt: skip
    return str(found[0]["Value"]) if found else ""


@pytest.mark.slow
def test_upgrade_switches_while_collecting_rolls_back_and_resumes(
    debian_fleet: LocalFleet, tmp_path: Path
) -> None:
    """`upgrade` over SSH with sudo across 3 nodes, as on EC2: stage a release beside the first
    boot's venv, switch the link, `systemctl restart` (the stand-in's, immediate like
    systemd's), health through `status`; the frames each camera lost in its node's switch as
    the command reports them, within the target and checked against the gaps in the stored
    frames. Then a broken release is rolled back, and an upgrade killed after its first stage
    resumes without staging again."""
    assigned = cli("assign", "--cameras", "all", "--cameras-per-node", "100")
    assert assigned.exit_code == 0, assigned.output
    names = debian_fleet.node_names
    wait_for(lambda: all(_stored_now(debian_fleet, n) > 0 for n in names), 90, "frames")
    started_ms = int(time.time() * 1000)
    time.sleep(5)  # a few polls before the switch: each camera's usual interval
    took = {"upgrade": time.monotonic()}  # each part's seconds, printed (CI time is watched)
    upgraded = cli("upgrade", "--yes", "--json", "--health-timeout", "180")
    took["upgrade"] = time.monotonic() - took["upgrade"]
    assert upgraded.exit_code == 0, upgraded.output
    document = json.loads(upgraded.stdout)
    assert [n["outcome"] for n in document["nodes"]] == ["upgraded"] * len(names)
    finished_ms = int(time.time() * 1000)
    time.sleep(5)
    release = f"/opt/cctview/releases/{document['sha256'][:16]}/bin/cctview-agent"
    measured: dict[str, list[tuple[str, float, int]]] = {}
    for name in names:
        root = Path(debian_fleet.node(name).root)
        assert os.readlink(root / "usr/local/bin/cctview-agent") == release
        assert (root / "var/lib/cctview/agent-previous").read_text().strip() == (
            "/opt/cctview/venv/bin/cctview-agent"
        )
        log = (root / "run/cctview-fleet/cctview-agent.service.starts").read_text()
        assert int(log) >= 2  # restarted by the switch
        for camera, times in _frame_times(debian_fleet, name, started_ms).items():
            usual, lost = _frames_lost(times, started_ms, finished_ms)
            measured.setdefault(name, []).append((camera, usual, lost))
            assert times[-1] > finished_ms, f"{name} {camera} stopped after the switch"
    # What the command counted (the agents' own restart records) against the stored files'
    # gaps: the files' widest gap over the whole upgrade also holds ordinary held pictures, so
    # it may say one frame more, never fewer, and never more than one apart.
    reported = {n["node"]: n["frames_lost"] for n in document["nodes"]}
    figures = []
    for name in names:
        counted = reported[name]
        from_files = {camera: lost for camera, _usual, lost in measured[name]}
        assert counted["waiting"] == [] and counted["cameras"] == len(from_files), counted
        assert abs(counted["max"] - max(from_files.values())) <= 1, (counted, from_files)
        assert abs(counted["max"] - from_files[counted["worst_camera"]]) <= 1, (counted, from_files)
        files_max = max(from_files.values())
        figures.append(f"{name}: max {counted['max']} median {counted['median']} "
                       f"(files: max {files_max}) over {counted['cameras']}")  # fmt: skip
    usual_s = statistics.median(u for rows in measured.values() for _c, u, _l in rows)
    print(f"\nframes lost per camera in the switch, as `upgrade` reported them: "
          f"{'; '.join(figures)}; usual interval ~{usual_s:.1f} s")  # fmt: skip
    # the target (issue 12): at most one poll interval per camera, on every node
    assert all(reported[name]["within_target"] for name in names), reported

    # A release whose agent never runs: rolled back on node-01, node-02 not touched.
    good = build_agent_wheel(Path(agent_unit().parents[2]), tmp_path / "build").path
    broken = _wheel_variant(good, tmp_path / "broken", broken=True)
    took["rollback"] = time.monotonic()
    failed = cli("upgrade", "--wheel", str(broken), "--yes", "--json", "--health-timeout", "20")
    took["rollback"] = time.monotonic() - took["rollback"]
    assert failed.exit_code != 0
    outcome = json.loads(failed.stdout)
    assert [n["outcome"] for n in outcome["nodes"]] == ["rolled back"]
    assert outcome["untouched"] == names[1:]
    for name in names:
        assert os.readlink(Path(debian_fleet.node(name).root) / "usr/local/bin/cctview-agent") == (
            release
        )
    wait_for(lambda: cli("status", "--json").exit_code == 0, 90, "the fleet healthy again")

    # An upgrade killed once node-01 is staged resumes from the tags: no second stage.
    other = _wheel_variant(good, tmp_path / "other", broken=False)
    env = {**debian_fleet.env(), "COLUMNS": "200"}
    command = [str(Path(sys.executable).parent / "cctview-fleet"), "upgrade", "--wheel",
               str(other), "--yes", "--health-timeout", "180"]  # fmt: skip
    took["stage, killed"] = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(lambda: _upgrade_tag(debian_fleet, names[0]).endswith(":staged")
                 or process.poll() is not None, 300, "node-01 staged")  # fmt: skip
    finally:
        process.kill()
        process.wait()
    took["stage, killed"] = time.monotonic() - took["stage, killed"]
    sha16 = _upgrade_tag(debian_fleet, names[0]).split(":")[0]
    complete = Path(debian_fleet.node(names[0]).root) / f"opt/cctview/releases/{sha16}/.complete"
    staged_at = complete.stat().st_mtime_ns
    took["resume"] = time.monotonic()
    resumed = cli("upgrade", "--wheel", str(other), "--yes", "--json", "--health-timeout", "180")
    took["resume"] = time.monotonic() - took["resume"]
    print("seconds: " + ", ".join(f"{part} {seconds:.0f}" for part, seconds in took.items()))
    assert resumed.exit_code == 0, resumed.output
    outcomes = [n["outcome"] for n in json.loads(resumed.stdout)["nodes"]]
    assert outcomes[0] in ("upgraded", "already") and outcomes[1:] == ["upgraded"] * (
        len(names) - 1
    )
    assert complete.stat().st_mtime_ns == staged_at  # node-01 was not staged again
