"""The first-boot script and the agent wheel it installs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cctview_agent import __version__ as agent_version
from cctview_agent.config import config_from_mapping
from cctview_agent.errors import ConfigError
from cctview_agent.volumes.blockdevices import volume_label
from cctview_infra.agentpackage import AgentWheel, build_agent_wheel, sha256_file
from cctview_infra.userdata import USER_DATA_LIMIT, UserDataSpec, render_user_data
from tests.infra.mocks import REPO

VOLUME = "vol-0123456789abcdef0"


def spec_for() -> UserDataSpec:
    return UserDataSpec(
        node="node-07", region="us-east-1", bucket="frames-bucket", volume_size_gib=8,
        agent_period=900,
    )  # fmt: skip


def heredoc(script: str, path: str) -> str:
    """The content the script writes to ``path`` (through ``path.tmp``)."""
    match = re.search(rf"cat > {re.escape(path)}\.tmp <<'(\w+)'\n(.*?)\n\1\n", script, re.DOTALL)
    assert match, f"the script writes no {path}"
    return match.group(2) + "\n"


@pytest.fixture(scope="module")
def script(agent_wheel: AgentWheel, agent_unit: str) -> str:
    return render_user_data(spec_for(), agent_unit)


def test_script_is_valid_bash(script: str, tmp_path: Path) -> None:
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert script.startswith("#!/bin/bash\n")
    assert len(script.encode()) < USER_DATA_LIMIT


def test_installs_the_wheel_its_instance_tags_name(script: str, agent_wheel: AgentWheel) -> None:
    """Nothing that an upgrade or a rotation changes is in the text (it reads them at boot)."""
    assert agent_wheel.sha256 not in script and agent_wheel.filename not in script
    assert "vol-" not in script.replace('"vol-[0-9a-f]+"', "").replace("VOLUME_ID#vol-", "")
    assert (
        "TAGS=$(/opt/cctview/venv/bin/python - cctview:agent-key cctview:agent-sha256 "
        "cctview:data-volume <<" in script
    )
    assert "BUCKET=frames-bucket\n" in script
    assert 'echo "$AGENT_SHA256  $AGENT_WHEEL" | sha256sum --check --strict -' in script
    # the digest is checked before pip sees the file
    assert script.index("sha256sum --check") < script.index("zipfile.ZipFile(")
    assert script.index("sha256sum --check") < script.index('install -q --no-deps "$AGENT_WHEEL"')
    assert "ln -sfn /opt/cctview/venv/bin/cctview-agent /usr/local/bin/cctview-agent" in script
    assert "python3 -m venv /opt/cctview/venv" in script
    assert "apt-get install -y -q python3 python3-venv" in script


def test_digest_check_refuses_a_tampered_wheel(
    script: str, agent_wheel: AgentWheel, tmp_path: Path
) -> None:
    """Run the script's own verification line against the real wheel and a modified copy."""
    (line,) = [s for s in script.splitlines() if "sha256sum --check" in s]
    good = tmp_path / agent_wheel.filename
    shutil.copyfile(agent_wheel.path, good)
    env = {"PATH": "/usr/bin:/bin", "AGENT_SHA256": agent_wheel.sha256, "AGENT_WHEEL": str(good)}
    assert subprocess.run(["bash", "-c", line], env=env, capture_output=True).returncode == 0
    with good.open("ab") as stream:
        stream.write(b"\0")
    assert subprocess.run(["bash", "-c", line], env=env, capture_output=True).returncode != 0


def test_config_is_written_by_agent_config_and_accepted_by_the_agent(script: str) -> None:
    text = heredoc(script, "/etc/cctview/agent.toml")
    config = config_from_mapping(tomllib.loads(text))
    assert config.node == "node-07"
    assert config.period == 900
    assert config.volume_mode == "block"
    assert str(config.data_dir) == "/var/lib/cctview/data"
    assert str(config.volumes_root) == "/mnt/cctview"
    assert str(config.assignment) == "/etc/cctview/assignment.json"
    assert "[ -e /etc/cctview/assignment.json ] || echo '[]' > /etc/cctview/assignment.json" in (
        script
    )


@pytest.mark.parametrize("volume", [VOLUME, "vol-0abc"])  # moto's ids can be shorter
def test_mounts_the_volume_by_id_and_label_never_by_device_name(script: str, volume: str) -> None:
    prepare = 'volume prepare --volume-id "$VOLUME_ID" --attachment-device /dev/sdf'
    assert prepare in script
    assert 'volume switch --volume-id "$VOLUME_ID"' in script
    (label_line,) = [line for line in script.splitlines() if line.startswith("LABEL=")]
    (fstab_line,) = [line for line in script.splitlines() if "/etc/fstab" in line]
    shown = subprocess.run(
        ["bash", "-c", f'{label_line}; echo "{fstab_line.split(" echo ", 1)[1].split(" >>")[0]}"'],
        env={"PATH": "/usr/bin:/bin", "VOLUME_ID": volume}, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert shown == f"LABEL={volume_label(volume)} /mnt/cctview/{volume} ext4 noatime,nofail 0 2\n"
    assert "mkfs" not in script  # formatting (only when blank) is the agent's job, not a guess
    assert "/dev/xvdf" not in script and "/dev/nvme1n1" not in script


def test_installs_and_starts_the_agents_own_unit(script: str, agent_unit: str) -> None:
    assert heredoc(script, "/etc/systemd/system/cctview-agent.service") == agent_unit
    assert script.index("volume switch") < script.index("systemctl enable --now")
    assert "systemctl daemon-reload\nsystemctl enable --now cctview-agent.service\n" in script
    assert 'ssh-keygen -lf "$key"' in script  # host key fingerprints on the console


def test_enables_the_hourly_sync_of_the_fleet_bucket_and_prefix(
    agent_wheel: AgentWheel, tmp_path: Path
) -> None:
    spec = replace(spec_for(), prefix="nyc/frames")
    script = render_user_data(spec, "[Service]\nExecStart=/bin/true\n")
    assert heredoc(script, "/etc/cctview/sync.env") == (
        "CCTVIEW_BUCKET=frames-bucket\nCCTVIEW_PREFIX=nyc/frames\n"
    )
    assert "systemctl enable --now cctview-agent-sync.timer" in script
    # the shipped units are found through the installed package, as the node's python finds it
    line = next(x for x in script.splitlines() if x.startswith("SHIPPED=$("))
    python = shutil.which("python3") or sys.executable
    command = (
        line.removeprefix("SHIPPED=$(")
        .removesuffix(")")
        .replace("/opt/cctview/venv/bin/python", sys.executable)
    )
    found = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    shipped = Path(found.stdout.strip())
    assert python and (shipped / "cctview-agent-sync.timer").is_file(), shipped
    timer = (shipped / "cctview-agent-sync.timer").read_text()
    service = (shipped / "cctview-agent-sync.service").read_text()
    assert "OnCalendar=" in timer and "EnvironmentFile=/etc/cctview/sync.env" in service
    assert "cctview-agent sync --retain-days" in service


def test_unit_user_is_created_when_the_unit_names_one(agent_wheel: AgentWheel) -> None:
    unit = "[Service]\nUser=cctview\nExecStart=/usr/local/bin/cctview-agent run\n"
    script = render_user_data(spec_for(), unit)
    assert "useradd --system" in script and "chown -R cctview: /var/lib/cctview" in script
    assert 'chown -R cctview: "/mnt/cctview/$VOLUME_ID"' in script  # the agent writes there
    # assign (as cctview) replaces the assignment through a temporary file in /etc/cctview;
    # nothing after sets the folder's mode again (mkdir -p leaves an existing folder alone).
    lines = script.splitlines()
    assert lines.index("chmod 1775 /etc/cctview") > lines.index("chgrp cctview /etc/cctview")
    assert not [line for line in lines if line.startswith("install -d") and "/etc/cctview" in line]
    root = render_user_data(spec_for(), "[Service]\nExecStart=/bin/true\n")
    assert "useradd" not in root and "chmod 1775" not in root


def test_a_node_without_a_volume_tag_says_what_to_do(script: str) -> None:
    start = script.index('if [ -z "$VOLUME_ID" ]; then')
    untagged = script[start : script.index("else", start)]
    assert "the instance has no cctview:data-volume tag" in untagged
    assert "volume prepare" in untagged and "volume switch" in untagged  # what to run


def test_oversized_user_data_is_refused(agent_wheel: AgentWheel) -> None:
    with pytest.raises(ConfigError, match="over EC2's limit"):
        render_user_data(spec_for(), "#" * USER_DATA_LIMIT)


def test_wheel_is_the_checkouts_agent(agent_wheel: AgentWheel) -> None:
    assert agent_wheel.filename == f"cctview_agent-{agent_version}-py3-none-any.whl"
    assert sha256_file(agent_wheel.path) == agent_wheel.sha256
    assert agent_wheel.key == f"_agent/{agent_wheel.sha256}/{agent_wheel.filename}"
    with zipfile.ZipFile(agent_wheel.path) as wheel:
        names = set(wheel.namelist())
    modules = {
        f"cctview_agent/{p.relative_to(REPO / 'agent' / 'cctview_agent').as_posix()}"
        for p in (REPO / "agent" / "cctview_agent").rglob("*.py")
    }
    assert modules <= names
    assert "cctview_agent/systemd/cctview-agent.service" in names
    # the hourly sync the first boot installs from the wheel
    assert "cctview_agent/systemd/cctview-agent-sync.service" in names
    assert "cctview_agent/systemd/cctview-agent-sync.timer" in names


def test_wheel_build_is_reproducible_cached_and_follows_the_sources(
    agent_wheel: AgentWheel, agent_snapshot: Path, tmp_path: Path
) -> None:
    """Same sources in another folder, touched later: the same bytes, the same key. Built
    again into the same folder: the cached wheel. A changed source: a new wheel and key."""
    elsewhere = shutil.copytree(agent_snapshot, tmp_path / "elsewhere" / "agent")
    for path in elsewhere.rglob("*.py"):
        path.touch()
    again = build_agent_wheel(elsewhere, tmp_path / "out")
    assert again.sha256 == agent_wheel.sha256
    assert again.path == tmp_path / "out" / again.sha256 / again.filename
    assert build_agent_wheel(elsewhere, tmp_path / "out") == again  # from the cache
    init = elsewhere / "cctview_agent" / "__init__.py"
    init.write_text(init.read_text() + "# operator's local change\n")
    changed = build_agent_wheel(elsewhere, tmp_path / "out")
    assert changed.sha256 != again.sha256 and changed.key != again.key
    with zipfile.ZipFile(changed.path) as wheel:
        assert b"operator's local change" in wheel.read("cctview_agent/__init__.py")


def test_wheel_build_refuses_a_folder_without_a_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"has no pyproject\.toml"):
        build_agent_wheel(tmp_path, tmp_path / "out")


def test_first_boot_fetches_the_wheel_from_s3_and_checks_it(
    script: str, agent_wheel: AgentWheel, moto_server: Any, s3_bucket: str, tmp_path: Path
) -> None:
    """The script's own download code and digest check, against a real S3 endpoint (moto)."""
    client = moto_server.client("s3")
    client.put_object(Bucket=s3_bucket, Key=agent_wheel.key, Body=agent_wheel.path.read_bytes())
    download = re.search(r"<<'(\w+)'\n(import sys\n.*?)\n\1\n", script, re.DOTALL)
    assert download, "the script has no download step"
    (check,) = [s for s in script.splitlines() if "sha256sum --check" in s]
    dest = tmp_path / agent_wheel.filename
    env = {**os.environ, **moto_server.env, "AGENT_SHA256": agent_wheel.sha256,
           "AGENT_WHEEL": str(dest)}  # fmt: skip

    def first_boot() -> int:
        fetched = subprocess.run(
            [sys.executable, "-", "us-east-1", s3_bucket, agent_wheel.key, str(dest)],
            input=download.group(2), text=True, env=env, capture_output=True, timeout=60,
        )  # fmt: skip
        assert fetched.returncode == 0, fetched.stderr
        return subprocess.run(["bash", "-c", check], env=env, capture_output=True).returncode

    assert first_boot() == 0
    assert dest.read_bytes() == agent_wheel.path.read_bytes()
    # Someone with write access to the bucket swaps the object: the node refuses it.
    client.put_object(Bucket=s3_bucket, Key=agent_wheel.key, Body=b"PK\x03\x04 not the agent")
    assert first_boot() != 0
