"""The Debian 12 root that first-booted local nodes start from, built once by ``mmdebstrap``.

An EC2 node boots Debian's AMI; a local node (``dev up`` as root) gets the closest thing this
machine can make: a bookworm root built by Debian's own ``mmdebstrap`` with the packages an AMI
has that first boot relies on (python3, python3-venv, openssh-server, sudo, e2fsprogs, mount).
It is built once and cached outside the repository under :func:`cache_dir`, in a folder named
by a digest of everything that goes into it (suite, mirror, package list, and the host's extra
trust roots), so a changed list builds a new root (and deletes the older ones no node is using)
and an unchanged one is reused. Nodes never write to it: each mounts it as the lower layer of
its own overlay (:mod:`.noderoots`).

The build removes the SSH host keys the openssh-server package made (every node would share
them); each node makes its own at first boot, as cloud-init does on EC2. Where the host reaches
package indexes through a proxy with its own certificate authority (this machine does), the
root trusts the same authorities and gets the host's /etc/pip.conf, so first boot's ``pip``
works here as it does on EC2; on a machine without them (CI) nothing is added.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cctview_fleet.devfleet.errors import DevFleetError
from cctview_fleet.devfleet.noderoots import unmount_below

SUITE = "bookworm"
# What a Debian 12 AMI has that first boot relies on: mount is "required" in Debian (every AMI
# has it) but not essential, so mmdebstrap's apt variant leaves it out unless named.
PACKAGES = (
    "python3", "python3-venv", "openssh-server", "sudo", "e2fsprogs", "mount", "ca-certificates",
)  # fmt: skip
CACHE_ENV = "CCTVIEW_ROOT_CACHE"
DEFAULT_CACHE = Path("/var/cache/cctview-fleet")
HOST_SOURCES = Path("/etc/apt/sources.list.d")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_CAS = Path("/usr/local/share/ca-certificates")
HOST_PIP_CONF = Path("/etc/pip.conf")
BUILD_TIMEOUT_S = 900


class RootBuildError(DevFleetError):
    """Raised when mmdebstrap is missing or cannot build the nodes' Debian root."""


def cache_dir() -> Path:
    """Where built roots (and the nodes' pip cache) live: never in the repository."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def host_mirror() -> str:
    """The Debian mirror this host's apt uses (its deb822 sources), else deb.debian.org."""
    for source in [*sorted(HOST_SOURCES.glob("*.sources")), Path("/etc/apt/sources.list")]:
        try:
            text = source.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.replace(":", " ", 1).split() if line.startswith("URIs:") else []
            uris = [w for w in words[1:] if w.rstrip("/").endswith("/debian")]
            if uris:
                return uris[0].rstrip("/")
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                return parts[1].rstrip("/")
    return DEFAULT_MIRROR


def _host_trust() -> list[Path]:
    return sorted(HOST_CAS.glob("*.crt")) + ([HOST_PIP_CONF] if HOST_PIP_CONF.is_file() else [])


def root_key(mirror: str, packages: tuple[str, ...] = PACKAGES) -> str:
    """The cache key: what the root is built from. A change anywhere builds a new root."""
    digest = hashlib.sha256(f"{SUITE}\n{mirror}\n{','.join(sorted(packages))}\n".encode())
    for path in _host_trust():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """One build at a time per cache (two fleets or two test runs may start together)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _hooks(trust: list[Path]) -> list[str]:
    hooks = ['--customize-hook=rm -f "$1"/etc/ssh/ssh_host_*']
    cas = [p for p in trust if p.suffix == ".crt"]
    for ca in cas:
        hooks.append(f"--customize-hook=copy-in {ca} /usr/local/share/ca-certificates/")
    if cas:
        hooks.append('--customize-hook=chroot "$1" update-ca-certificates --fresh >/dev/null')
    if HOST_PIP_CONF in trust:
        hooks.append(f"--customize-hook=copy-in {HOST_PIP_CONF} /etc/")
    return hooks


def _remove_unfinished(roots: Path) -> None:
    """Builds that were killed (their scratch folder may still have /proc and /dev mounted by
    mmdebstrap): only called under the lock, so no build is running."""
    for scratch in roots.glob(".*.*"):
        if scratch.is_dir():
            unmount_below(scratch)
            shutil.rmtree(scratch, ignore_errors=True)


def ensure_root(packages: tuple[str, ...] = PACKAGES) -> Path:
    """The cached root for ``packages``, built now if it is not in the cache yet."""
    binary = shutil.which("mmdebstrap")
    mirror = host_mirror()
    key = root_key(mirror, packages)
    roots = cache_dir() / "roots"
    target = roots / key
    if (target / "etc" / "debian_version").is_file():
        return target
    if binary is None:
        raise RootBuildError(
            "mmdebstrap is not installed; first-booted local nodes are built with it: "
            "`apt-get install mmdebstrap` (make setup does), or run `dev up` as a non-root user "
            "for single-user nodes"
        )
    with _lock(roots):
        if (target / "etc" / "debian_version").is_file():
            return target  # another fleet built it while this one waited
        _remove_unfinished(roots)
        scratch = roots / f".{key}.{os.getpid()}"
        argv = [
            binary, "--variant=apt", "--quiet", f"--include={','.join(packages)}",
            *_hooks(_host_trust()), SUITE, str(scratch), f"deb {mirror} {SUITE} main",
        ]  # fmt: skip
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise RootBuildError(
                f"mmdebstrap did not finish within {BUILD_TIMEOUT_S} s building {target}; "
                f"is the mirror {mirror} reachable?"
            ) from exc
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
            raise RootBuildError(
                f"mmdebstrap could not build the nodes' Debian root from {mirror}: {tail}"
            )
        os.replace(scratch, target)  # visible only whole
        _prune(roots, keep=target)
    return target


def _prune(roots: Path, *, keep: Path) -> None:
    """Delete roots of older package lists (~250 MB each) that no node uses as its lower layer
    (a running fleet keeps its own until its `dev down`)."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return
    for old in roots.iterdir():
        if old != keep and old.is_dir() and not old.name.startswith(".") and str(old) not in mounts:
            shutil.rmtree(old, ignore_errors=True)
