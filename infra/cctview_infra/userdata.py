"""A node's first-boot script (cloud-init user data): install the agent, mount the data volume,
write the agent's config, and start its systemd unit.

The script is plain bash so an operator can read it in the EC2 console and rerun any step. What
it does, in order, and why:

1. apt installs python3, python3-venv, e2fsprogs, util-linux and libturbojpeg0 (Debian 12 has
   python3, not venv; the agent compares pictures with libturbojpeg, 0.8 MB).
2. What changes over a node's life is read at boot from the instance's own tags through the
   metadata service (IMDSv2; the program enables instance metadata tags), never baked in here:
   ``cctview:agent-key`` and ``cctview:agent-sha256`` (the wheel, set by the program for a new
   node and by ``cctview-fleet upgrade`` after it) and ``cctview:data-volume`` (the active data
   volume, set by the program for generation 1 and by ``rotate-volumes`` after a switch). So the
   script is the same text before and after an upgrade or a rotation (``pulumi up`` sees no
   change), a replaced node boots with the agent and volume its predecessor had, and nodes still
   need no EC2 rights. The wheel is fetched from S3 with the instance role and installed only
   if its sha256 matches the tag's digest. ``cctview-agent`` is linked into /usr/local/bin.
   Every Python package comes from a lock with hashes (``pip install --require-hashes``): boto3
   from ``bootstrap.lock`` (written here), everything else from the ``node.lock`` inside the
   verified wheel.
3. ``/etc/cctview/agent.toml`` is written from :meth:`AgentConfig.to_toml` (the format has one
   writer); an empty assignment is written unless one exists (``cctview-fleet assign`` fills it).
   ``/etc/cctview`` is ``root:cctview 1775``: ``assign`` (as ``cctview``) replaces the assignment
   through a temporary file beside it, and the sticky bit keeps root's files out of its reach.
4. The data volume is found by its EBS volume id, formatted only when blank, and mounted under
   ``volumes_dir/<vol-id>`` by ``cctview-agent volume prepare``: the same code ``rotate-volumes``
   uses, which finds the device by the NVMe serial (Nitro), by the label it gave the file system,
   or on Xen (t2) by EC2's attachment record checked against the volume's size -- never by a
   guessed /dev/xvdf. It waits for the attachment, which Pulumi creates after the instance.
   ``volume switch`` then points ``data_dir`` at it, and /etc/fstab remounts it (by label) on boot.
5. The agent's own systemd unit (shipped in the wheel, ``cctview_agent/systemd``) is installed,
   enabled and started.

The network steps are retried (apt also waits up to 5 minutes for a dpkg lock held by another
apt at boot; pip and the S3 download retry with growing pauses, the download also on AccessDenied
while a new role's policy propagates), and however the script ends, ``finish`` writes its outcome
and last step to ``/var/lib/cctview/first-boot.json`` and one line to the console.

cloud-init prints the SSH host key fingerprints to the console at first boot by default
(``ssh_fp_console_blacklist`` empty, ``no_ssh_fingerprints: false``); ``cctview-fleet`` checks
host keys against those, which beats trusting the first connection.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cctview_agent.config import AgentConfig
from cctview_agent.errors import ConfigError
from cctview_agent.fleetconstants import DATA_VOLUME_DEVICE, NODE_LOCK_MEMBER
from cctview_agent.volumes.blockdevices import LABEL_PREFIX
from cctview_fleet.nodes import bootoutcome
from cctview_fleet.rollout.wheels import AGENT_KEY_PREFIX
from cctview_infra import tags

CONFIG_PATH = Path("/etc/cctview/agent.toml")
ASSIGNMENT_PATH = Path("/etc/cctview/assignment.json")
STATE_DIR = Path("/var/lib/cctview")
VOLUMES_DIR = Path("/mnt/cctview")
VENV_DIR = Path("/opt/cctview/venv")
UNIT_NAME = "cctview-agent.service"
SYNC_UNIT_NAME = "cctview-agent-sync.service"
SYNC_TIMER_NAME = "cctview-agent-sync.timer"
SYNC_ENV_PATH = Path("/etc/cctview/sync.env")
ATTACH_DEVICE = DATA_VOLUME_DEVICE  # the name in EC2's attachment record; never guessed by
ATTACH_WAIT_S = 900
USER_DATA_LIMIT = 16 * 1024  # EC2 refuses larger user data (before base64)
_HEREDOC = "CCTVIEW_END_OF_FILE"
FIRST_BOOT_STATE = Path(bootoutcome.STATE_FILE)  # what `status` reads
# step: says (and remembers) where the script is; retry: a flaky network command, 5 tries with a
# growing pause; finish (on exit, success or not): the outcome as JSON in FIRST_BOOT_STATE and
# one line on the console, which `aws ec2 get-console-output` (and `cctview-fleet trust`) read.
FIRST_BOOT_HELPERS = f"""\
STEP=start
step() {{ STEP="$*"; echo "cctview-bootstrap: $*"; }}
retry() {{
  local n=1
  until "$@"; do
    [ "$n" -ge 5 ] && return 1
    echo "cctview-bootstrap: retry $n of $*"; sleep $((n * ${{RETRY_DELAY:-10}})); n=$((n + 1))
  done
}}
finish() {{
  local rc=$1 state={FIRST_BOOT_STATE} outcome=ok
  [ "$rc" -eq 0 ] || outcome=failed
  mkdir -p "$(dirname "$state")"
  printf '{{"outcome": "%s", "exit": %d, "step": "%s", "at": "%s"}}\\n' "$outcome" "$rc" \\
    "${{STEP//\\"/}}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$state.tmp" && mv -f "$state.tmp" "$state"
  echo "cctview-bootstrap: first boot $outcome (exit $rc) at step: $STEP" \\
    | tee /dev/console 2>/dev/null || true
}}
trap 'finish $?' EXIT"""
# The instance tags the script reads at boot (IMDS ``tags/instance/<key>``); the CLI's constants.
BOOT_TAGS = tags.BOOT_KEYS  # in this order: the wheel's key, its digest, the data volume
# Reads BOOT_TAGS over IMDSv2 and prints them one a line (checked: a digest, a wheel key under it,
# a volume id or nothing). The endpoint is botocore's (``ec2_metadata_service_endpoint`` or
# 169.254.169.254), as the role credentials are: the local fleet points both at its stand-in.
READ_TAGS = f"""\
import re, sys, time, urllib.error, urllib.request
import botocore.session
base = botocore.session.Session().get_config_variable("ec2_metadata_service_endpoint")
base = (base or "http://169.254.169.254").rstrip("/")
def call(path, method="GET", headers=None):
    request = urllib.request.Request(base + path, method=method, headers=headers or {{}})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()
for attempt in range(1, 11):
    try:
        token = call("/latest/api/token", "PUT", {{"X-aws-ec2-metadata-token-ttl-seconds": "300"}})
        tags = {{}}
        for key in sys.argv[1:]:
            try:
                tags[key] = call("/latest/meta-data/tags/instance/" + key,
                                 headers={{"X-aws-ec2-metadata-token": token}}).strip()
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
                tags[key] = ""
        break
    except (OSError, urllib.error.URLError) as exc:
        if attempt == 10:
            sys.exit(f"cctview-bootstrap: no metadata service at {{base}}: {{exc}}")
        print(f"cctview-bootstrap: metadata retry {{attempt}}: {{exc}}", file=sys.stderr)
        time.sleep(3 * attempt)
key, sha, volume = (tags[k] for k in sys.argv[1:])
if not re.fullmatch("[0-9a-f]{{64}}", sha) or not re.fullmatch(
    re.escape(f"{AGENT_KEY_PREFIX}/{{sha}}/") + r"[A-Za-z0-9_.+-]+\\.whl", key
):
    sys.exit(f"cctview-bootstrap: instance tags {{sys.argv[1]}}={{key!r}} {{sys.argv[2]}}={{sha!r}}"
             " name no agent wheel (instance metadata tags enabled? see docs/infra.md)")
if volume and not re.fullmatch("vol-[0-9a-f]+", volume):
    sys.exit(f"cctview-bootstrap: instance tag {{sys.argv[3]}}={{volume!r}} is no volume id")
print(key, sha, volume, sep="\\n")
"""
BOOTSTRAP_LOCK = "/tmp/cctview-bootstrap.lock"
NODE_LOCK = "/tmp/cctview-node.lock"


@dataclass(frozen=True, slots=True)
class UserDataSpec:
    """Everything one node's first boot needs to know."""

    node: str
    region: str
    bucket: str
    volume_size_gib: int  # rotations keep the size: the Xen attachment check compares it
    agent_period: int = 3600
    prefix: str = "cctview"  # where the hourly sync ships periods in the bucket
    contact: str = ""  # the operator's contact, named in every request's User-Agent


def agent_config(spec: UserDataSpec) -> AgentConfig:
    """The node's agent settings: data on the EBS volume, state and logs on the root disk."""
    return AgentConfig(
        node=spec.node,
        data_dir=STATE_DIR / "data",
        volumes_dir=VOLUMES_DIR,
        volume_mode="block",
        assignment=ASSIGNMENT_PATH,
        period=spec.agent_period,
        log_file=STATE_DIR / "agent.log",
        status_file=STATE_DIR / "status.json",
        bucket=spec.bucket,  # the fleet's: only its receipts let frames go (docs/security.md)
        prefix=spec.prefix,
        contact=spec.contact,
    )


def shipped_lock(name: str) -> str:
    """A lock the agent package ships (``cctview_agent/locks``, made by ``make agent-lock``)."""
    return (resources.files("cctview_agent") / "locks" / name).read_text()


def shipped_systemd_unit(agent_dir: Path) -> str:
    """The agent's unit file from the checkout's agent package (one copy, owned by the agent;
    the wheel ships the same file)."""
    unit = agent_dir / "cctview_agent" / "systemd" / UNIT_NAME
    try:
        return unit.read_text()
    except OSError as exc:
        raise ConfigError(
            f"{unit} is missing: the agent package must ship its systemd unit; update the checkout",
            path=unit,
        ) from exc


def unit_user(unit: str) -> str | None:
    """The ``User=`` the unit runs as, so first boot can create it; None means root."""
    match = re.search(r"^\s*User\s*=\s*(\S+)\s*$", unit, re.MULTILINE)
    return match.group(1) if match and match.group(1) != "root" else None


def _heredoc(path: Path, content: str, mode: str) -> str:
    if _HEREDOC in content:
        raise ValueError(f"{path} content contains the heredoc marker {_HEREDOC}")
    return (
        # mkdir, not install -d: it leaves an existing folder's owner and mode alone
        f"mkdir -p -m 0755 {shlex.quote(str(path.parent))}\n"
        f"cat > {shlex.quote(str(path))}.tmp <<'{_HEREDOC}'\n{content}"
        f"{'' if content.endswith(chr(10)) else chr(10)}{_HEREDOC}\n"
        f"chmod {mode} {shlex.quote(str(path))}.tmp && "
        f"mv -f {shlex.quote(str(path))}.tmp {shlex.quote(str(path))}\n"
    )


def render_user_data(spec: UserDataSpec, unit: str) -> str:
    """The bash script for ``spec``'s node; ``unit`` is the agent's systemd unit file."""
    user = unit_user(unit)
    q = shlex.quote
    config_toml = agent_config(spec).to_toml()
    venv_bin = VENV_DIR / "bin"
    lines = [
        "#!/bin/bash",
        f"# cctview-fleet first boot of {spec.node}: generated by infra/cctview_infra/userdata.py",
        "set -euo pipefail",
        f"exec > >(tee -a {bootoutcome.LOG_FILE}) 2>&1",
        *FIRST_BOOT_HELPERS.splitlines(),
        "",
        f"NODE={q(spec.node)}",
        f"REGION={q(spec.region)}",
        f"BUCKET={q(spec.bucket)}",
        f"VOLUME_SIZE_GIB={spec.volume_size_gib}",
        "",
        'step "1/5 system packages"',
        "export DEBIAN_FRONTEND=noninteractive",
        # another apt (unattended-upgrades at boot) may hold the dpkg lock: wait for it, retry
        "retry apt-get update -q -o DPkg::Lock::Timeout=300",
        "retry apt-get install -y -q python3 python3-venv e2fsprogs util-linux libturbojpeg0"
        " -o DPkg::Lock::Timeout=300",
        "",
        'step "2/5 agent (from the instance tags)"',
        f"python3 -m venv {q(str(VENV_DIR))}",
        # Every package from a lock with hashes, never a version range (docs/security.md):
        # boto3 first (to read the tags and fetch the wheel), then the wheel's own node.lock,
        # then the wheel.
        _heredoc(Path(BOOTSTRAP_LOCK), shipped_lock("bootstrap.lock"), "0644").rstrip("\n"),
        f"retry {q(str(venv_bin / 'pip'))} install -q --require-hashes -r {BOOTSTRAP_LOCK}"
        " --retries 5 --timeout 60",
        f"TAGS=$({q(str(venv_bin / 'python'))} - {' '.join(BOOT_TAGS)} <<'{_HEREDOC}'",
        *READ_TAGS.splitlines(),
        f"{_HEREDOC}\n)",
        '{ read -r AGENT_KEY; read -r AGENT_SHA256; read -r VOLUME_ID; } <<< "$TAGS"',
        'AGENT_WHEEL="/tmp/${AGENT_KEY##*/}"',
        'step "2/5 agent $AGENT_SHA256"',
        f'{q(str(venv_bin / "python"))} - "$REGION" "$BUCKET" "$AGENT_KEY" "$AGENT_WHEEL"'
        f" <<'{_HEREDOC}'",
        "import sys",
        "import time",
        "import boto3  # the instance role's credentials, fetched over IMDSv2",
        "from botocore.config import Config",
        "region, bucket, key, dest = sys.argv[1:5]",
        'config = Config(retries={"max_attempts": 10, "mode": "standard"})',
        'client = boto3.client("s3", region_name=region, config=config)',
        "for attempt in range(1, 11):  # also AccessDenied: a new role's policy propagates",
        "    try:",
        "        client.download_file(bucket, key, dest)",
        "        break",
        "    except Exception as exc:",
        "        if attempt == 10:",
        "            raise",
        '        print(f"cctview-bootstrap: download retry {attempt}: {exc}", flush=True)',
        "        time.sleep(6 * attempt)",
        _HEREDOC,
        'echo "$AGENT_SHA256  $AGENT_WHEEL" | sha256sum --check --strict -',
        f"{q(str(venv_bin / 'python'))} -c 'import sys, zipfile; sys.stdout.buffer.write("
        f'zipfile.ZipFile(sys.argv[1]).read("{NODE_LOCK_MEMBER}"))\' "$AGENT_WHEEL" > {NODE_LOCK}',
        f"retry {q(str(venv_bin / 'pip'))} install -q --require-hashes -r {NODE_LOCK}"
        " --retries 5 --timeout 60",
        f'retry {q(str(venv_bin / "pip"))} install -q --no-deps "$AGENT_WHEEL"'
        " --retries 5 --timeout 60",
        f"ln -sfn {q(str(venv_bin / 'cctview-agent'))} /usr/local/bin/cctview-agent",
        f'rm -f "$AGENT_WHEEL" {BOOTSTRAP_LOCK} {NODE_LOCK}',
        "",
        'step "3/5 agent config"',
    ]
    if user:
        lines += [
            f"id -u {q(user)} >/dev/null 2>&1 || useradd --system --home-dir {q(str(STATE_DIR))}"
            f" --shell /usr/sbin/nologin {q(user)}",
        ]
    script = "\n".join(lines) + "\n"
    script += _heredoc(CONFIG_PATH, config_toml, "0644")
    script += (
        f"install -d -m 0755 {q(str(STATE_DIR))} {q(str(VOLUMES_DIR))}\n"
        f"[ -e {q(str(ASSIGNMENT_PATH))} ] || echo '[]' > {q(str(ASSIGNMENT_PATH))}\n"
    )
    script += _volume_step(user)
    if user:
        # `assign` runs as the agent's user and replaces the assignment through a temporary
        # file in its folder: the folder is group-writable for that user, and sticky, so the
        # user can replace only files it owns (the assignment), never root's agent.toml.
        script += (
            f"chown -R {q(user)}: {q(str(STATE_DIR))}\nchown {q(user)}: {q(str(ASSIGNMENT_PATH))}\n"
            f"chgrp {q(user)} {q(str(ASSIGNMENT_PATH.parent))}\n"
            f"chmod 1775 {q(str(ASSIGNMENT_PATH.parent))}\n"
        )
    script += "\n" + 'step "5/5 systemd units"\n'
    script += _heredoc(Path("/etc/systemd/system") / UNIT_NAME, unit, "0644")
    # The hourly sync (service + timer) ships in the wheel; only its settings are written here.
    script += _heredoc(
        SYNC_ENV_PATH, f"CCTVIEW_BUCKET={spec.bucket}\nCCTVIEW_PREFIX={spec.prefix}\n", "0644"
    )
    script += (
        f"SHIPPED=$({q(str(venv_bin / 'python'))} -c 'import cctview_agent, pathlib; "
        'print(pathlib.Path(cctview_agent.__file__).parent / "systemd")\')\n'
        f'install -m 0644 "$SHIPPED/{SYNC_UNIT_NAME}" "$SHIPPED/{SYNC_TIMER_NAME}" '
        "/etc/systemd/system/\n"
    )
    script += (
        "systemctl daemon-reload\n"
        f"systemctl enable --now {UNIT_NAME}\n"
        f"systemctl enable --now {SYNC_TIMER_NAME}\n"
        'step "done: $NODE runs $(cctview-agent --version 2>/dev/null || echo cctview-agent)"\n'
        'for key in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf "$key"; done\n'
    )
    if len(script.encode()) > USER_DATA_LIMIT:
        raise ConfigError(
            f"the user data of {spec.node} is {len(script.encode())} bytes, over EC2's limit of "
            f"{USER_DATA_LIMIT}; shorten the agent's systemd unit"
        )
    return script


def _volume_step(user: str | None) -> str:
    """Prepare (find by id, format if blank, mount) and switch to the volume the instance's
    ``cctview:data-volume`` tag names; none tagged: say what to do and go on without one."""
    q = shlex.quote
    config = q(str(CONFIG_PATH))
    mount_point = f"{VOLUMES_DIR}/$VOLUME_ID"
    fstab = f"LABEL=$LABEL {mount_point} ext4 noatime,nofail 0 2"
    step = (
        "\n"
        'if [ -z "$VOLUME_ID" ]; then\n'
        f'  step "4/5 no data volume: the instance has no {tags.DATA_VOLUME} tag. Attach the '
        "node's newest data volume in EC2, then run: cctview-agent volume prepare --volume-id "
        'VOL && cctview-agent volume switch --volume-id VOL"\n'
        "else\n"
        'step "4/5 data volume $VOLUME_ID (waiting for its attachment)"\n'
        # blockdevices.volume_label: the prefix and the id's last 14 hex digits
        f'LABEL="{LABEL_PREFIX}$(printf %s "${{VOLUME_ID#vol-}}" | tail -c 14)"\n'
        f"deadline=$((SECONDS + {ATTACH_WAIT_S}))\n"
        f'until cctview-agent --config {config} volume prepare --volume-id "$VOLUME_ID"'
        f' --attachment-device {ATTACH_DEVICE} --size-gib "$VOLUME_SIZE_GIB"; do\n'
        '  if [ "$SECONDS" -ge "$deadline" ]; then\n'
        '    step "volume $VOLUME_ID never appeared; is its attachment in EC2?"; exit 1\n'
        "  fi\n"
        "  sleep 5\n"
        "done\n"
        f'cctview-agent --config {config} volume switch --volume-id "$VOLUME_ID"\n'
        f'grep -q "LABEL=$LABEL " /etc/fstab || echo "{fstab}" >> /etc/fstab\n'
    )
    if user:
        step += f'chown -R {q(user)}: "{mount_point}"\n'  # frames/ made by prepare
    return step + "fi\n"
