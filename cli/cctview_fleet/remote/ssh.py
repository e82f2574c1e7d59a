"""SSH to nodes: one lazy connection per node, reused by every step of a command.

Like fabric's ``Connection``, a :class:`NodeConnection` opens on first use and stays open until the
command ends; a :class:`Connections` pool hands out one per node, so ``status`` over twelve nodes
opens exactly twelve connections (the benchmark counts them). Authentication is by the stack's
key only; host keys are checked against the stack's known_hosts and an unknown or changed key is
a :class:`HostKeyError`, never a silent auto-add (fabric's default policy auto-adds, which is why
this module drives paramiko itself). paramiko and socket errors become :class:`UnreachableError`,
:class:`HostKeyError` or :class:`RemoteCommandError` at this boundary.
"""

from __future__ import annotations

import select
import shlex
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.stacks import Stack, cctview_home
from cctview_fleet.defaults import DEFAULT_CONNECT_TIMEOUT
from cctview_fleet.errors import HostKeyError, NodeError, RemoteCommandError, UnreachableError
from cctview_fleet.remote.hostkeys import fingerprint, host_key_name
from cctview_fleet.remote.linebuffer import LineBuffer

if TYPE_CHECKING:
    import paramiko

# paramiko (with cryptography) is imported by the methods that talk SSH, not at the top: it
# would cost every `cctview-fleet --help` a tenth of a second (bench/startup_bench.py).

KEEPALIVE_SECONDS = 15
_READ_CHUNK = 65536
# A node's output is untrusted input: what one command may print into the operator's memory.
MAX_OUTPUT_BYTES = 256 * 2**20
MAX_STDERR_BYTES = 64 * 1024  # the tail is kept: error messages quote the last lines

# Connections opened in this process, by node name: the benchmark's "connections per node".
_opened: Counter[str] = Counter()
_opened_lock = threading.Lock()


def connections_opened() -> dict[str, int]:
    """How many SSH connections this process opened to each node so far."""
    with _opened_lock:
        return dict(_opened)


def reset_connection_count() -> None:
    with _opened_lock:
        _opened.clear()


@dataclass(frozen=True, slots=True)
class SshSettings:
    """How the CLI reaches a stack's nodes."""

    user: str
    key_file: Path | None
    known_hosts: Path
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    keepalive: int = KEEPALIVE_SECONDS
    agent: tuple[str, ...] = ("cctview-agent",)
    agent_as_root: tuple[str, ...] = ("cctview-agent",)

    @classmethod
    def for_stack(
        cls, stack: Stack, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    ) -> SshSettings:
        known = (
            Path(stack.known_hosts).expanduser()
            if stack.known_hosts
            else cctview_home() / "known_hosts" / f"{stack.name}"
        )
        return cls(
            user=stack.ssh_user,
            key_file=Path(stack.ssh_key).expanduser() if stack.ssh_key else None,
            known_hosts=known,
            connect_timeout=connect_timeout,
            agent=tuple(shlex.split(stack.agent_command)),
            agent_as_root=tuple(shlex.split(stack.agent_root_command)),
        )


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


class _RefuseUnknownHost:
    """Never trust a key on sight: the node must be in the fleet's known_hosts already.

    paramiko's ``MissingHostKeyPolicy`` interface (one method), without subclassing it, so that
    defining the policy does not import paramiko.
    """

    def __init__(self, node: str, known_hosts: Path) -> None:
        self.node = node
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise HostKeyError(
            self.node,
            f"unknown host key {fingerprint(key)} for {hostname} (not in {self.known_hosts}); "
            f"check it and run `cctview-fleet trust {self.node}`",
        )


class NodeConnection:
    """A lazy SSH connection to one node; opened on first use, reopened if it dropped."""

    def __init__(self, node: Node, settings: SshSettings) -> None:
        self.node = node
        self.settings = settings
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.node.ssh_host}:{self.node.ssh_port}"

    @property
    def is_connected(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return bool(transport and transport.is_active())

    def open(self) -> paramiko.SSHClient:
        """The connected client, connecting now if needed (thread-safe)."""
        with self._lock:
            if self._client is not None and self.is_connected:
                return self._client
            self._close_client()
            self._client = self._connect()
            return self._client

    def _connect(self) -> paramiko.SSHClient:
        import paramiko

        node, settings = self.node, self.settings
        if not node.ssh_host:
            raise UnreachableError(
                node.name,
                f"has no SSH address (instance {node.instance_id} is {node.state}, no public "
                "address and no cctview:ssh-host tag)",
            )
        client = paramiko.SSHClient()
        if settings.known_hosts.exists():
            client.load_host_keys(str(settings.known_hosts))
        client.set_missing_host_key_policy(_RefuseUnknownHost(node.name, settings.known_hosts))
        timeout = settings.connect_timeout
        try:
            client.connect(
                node.ssh_host,
                port=node.ssh_port,
                username=settings.user,
                key_filename=str(settings.key_file) if settings.key_file else None,
                allow_agent=settings.key_file is None,
                look_for_keys=settings.key_file is None,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                node.name,
                f"HOST KEY CHANGED for {host_key_name(node.ssh_host, node.ssh_port)}: it "
                f"presents {fingerprint(exc.key)}, {settings.known_hosts} has "
                f"{fingerprint(exc.expected_key)}; if the node was replaced, run "
                f"`cctview-fleet trust {node.name}`, otherwise do not connect",
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise NodeError(
                node.name,
                f"{self.address} refused the key {settings.key_file} for user "
                f"{settings.user!r}; check ssh_key and ssh_user of the stack",
            ) from exc
        except TimeoutError as exc:
            client.close()
            raise UnreachableError(
                node.name, f"no answer from {self.address} within {timeout:g} s (connect timeout)"
            ) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise UnreachableError(
                node.name, f"cannot connect to {self.address}: {_why(exc)}"
            ) from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(settings.keepalive)
        with _opened_lock:
            _opened[node.name] += 1
        return client

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        with self._lock:
            self._close_client()

    def _channel(self) -> paramiko.Channel:
        import paramiko

        client = self.open()
        transport = client.get_transport()
        try:
            if transport is None:
                raise paramiko.SSHException("no transport")
            return transport.open_session(timeout=self.settings.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise UnreachableError(
                self.node.name, f"connection to {self.address} dropped: {_why(exc)}"
            ) from exc

    def run(
        self, command: str, stdin: str | bytes | None = None, *, timeout: float | None = 120.0
    ) -> CommandResult:
        """Run ``command``; return its exit status and output (a non-zero exit is not raised)."""
        import paramiko

        channel = self._channel()
        out, err = bytearray(), bytearray()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin.encode() if isinstance(stdin, str) else stdin)
            channel.shutdown_write()
            while not (
                channel.eof_received
                and not channel.recv_ready()
                and not channel.recv_stderr_ready()
            ):
                if deadline is not None and time.monotonic() > deadline:
                    raise UnreachableError(
                        self.node.name, f"`{command}` gave no result within {timeout:g} s"
                    )
                select.select([channel], [], [], 0.5)
                while channel.recv_ready():
                    out += channel.recv(_READ_CHUNK)
                    if len(out) > MAX_OUTPUT_BYTES:
                        raise NodeError(
                            self.node.name,
                            f"`{command}` printed more than {MAX_OUTPUT_BYTES // 2**20} MiB; "
                            "stopped reading it (run it with `cctview-fleet ssh` instead)",
                        )
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(_READ_CHUNK)
                    del err[:-MAX_STDERR_BYTES]
                if channel.closed and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
            status = channel.recv_exit_status()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise UnreachableError(
                self.node.name,
                f"connection to {self.address} dropped during `{command}`: {_why(exc)}",
            ) from exc
        finally:
            channel.close()
        if status == -1:
            raise UnreachableError(
                self.node.name, f"connection to {self.address} closed before `{command}` ended"
            )
        return CommandResult(status, out.decode(errors="replace"), err.decode(errors="replace"))

    def agent_command(self, *words: str, root: bool = False) -> str:
        """The shell line that runs ``cctview-agent WORDS`` on this node: the one place it is
        spelled, as the agent's user or (``root``) for formatting and mounting volumes."""
        prefix = self.settings.agent_as_root if root else self.settings.agent
        return quote(*prefix, *words)

    def check(self, command: str, stdin: str | bytes | None = None) -> CommandResult:
        """Run ``command`` and raise RemoteCommandError (with its last lines) when it fails."""
        result = self.run(command, stdin)
        if result.exit_status != 0:
            raise RemoteCommandError(
                self.node.name, command, result.exit_status, result.stderr or result.stdout
            )
        return result

    def stream_lines(
        self, command: str, stop: threading.Event, *, poll: float = 0.2
    ) -> Iterator[str]:
        """Yield ``command``'s stdout line by line until it ends or ``stop`` is set.

        A dropped connection raises UnreachableError (``logs`` reconnects); a non-zero exit
        raises RemoteCommandError with the command's stderr.
        """
        import paramiko

        channel = self._channel()
        err = bytearray()
        lines = LineBuffer()  # a node that never prints a newline cannot fill our memory
        try:
            channel.exec_command(command)
            channel.shutdown_write()
            while not stop.is_set():
                select.select([channel], [], [], poll)
                while channel.recv_ready():
                    yield from lines.feed(channel.recv(_READ_CHUNK))
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(_READ_CHUNK)
                    del err[:-MAX_STDERR_BYTES]  # the last lines are the ones a message quotes
                if channel.eof_received and not channel.recv_ready():
                    break
                if not self.is_connected:
                    raise paramiko.SSHException("transport closed")
            if stop.is_set():
                return
            last = lines.flush()
            if last is not None:
                yield last
            status = channel.recv_exit_status()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise UnreachableError(
                self.node.name, f"connection to {self.address} dropped: {_why(exc)}"
            ) from exc
        finally:
            channel.close()
        if status == -1:
            self.close()
            raise UnreachableError(self.node.name, f"connection to {self.address} closed")
        if status != 0:
            raise RemoteCommandError(self.node.name, command, status, err.decode(errors="replace"))


def _why(exc: BaseException) -> str:
    import paramiko

    text = str(exc).strip()
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        text = "connection refused (is the node running and sshd listening?)"
    return text or type(exc).__name__


class Connections:
    """One NodeConnection per node for the length of a command; close them all at the end."""

    def __init__(self, stack: Stack, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        self.settings = SshSettings.for_stack(stack, connect_timeout)
        self._by_name: dict[str, NodeConnection] = {}
        self._lock = threading.Lock()

    def get(self, node: Node) -> NodeConnection:
        with self._lock:
            conn = self._by_name.get(node.name)
            if conn is None:
                conn = self._by_name[node.name] = NodeConnection(node, self.settings)
            return conn

    def close(self) -> None:
        with self._lock:
            conns = list(self._by_name.values())
        for conn in conns:
            conn.close()

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def quote(*words: str) -> str:
    """A shell command line from words, each quoted."""
    return " ".join(shlex.quote(word) for word in words)
