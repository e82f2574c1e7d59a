"""The SSH layer against a real OpenSSH sshd on loopback: auth, host keys, timeouts, reuse."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.errors import HostKeyError, RemoteCommandError, UnreachableError
from cctview_fleet.remote import hostkeys, ssh
from tests.cli.sshd_server import Sshd, free_port, keygen, running_sshd

pytestmark = pytest.mark.sshd


def _stack(server: Sshd) -> Stack:
    return Stack(
        name="t",
        ssh_user=server.user,
        ssh_key=str(server.client_key),
        known_hosts=str(server.known_hosts),
    )


def _node(port: int, name: str = "node-01") -> Node:
    return Node(name=name, instance_id="i-1", state="running", ssh_host="127.0.0.1", ssh_port=port)


@pytest.fixture
def server(tmp_path: Path):
    with running_sshd(tmp_path / "sshd") as sshd:
        yield sshd


def test_run_returns_status_and_output_and_reuses_one_connection(server: Sshd) -> None:
    ssh.reset_connection_count()
    with ssh.Connections(_stack(server)) as pool:
        conn = pool.get(_node(server.port))
        first = conn.run("echo out; echo err >&2; exit 3")
        second = conn.run("cat", stdin="piped\n")
        again = pool.get(_node(server.port)).run("true")
    assert (first.exit_status, first.stdout, first.stderr) == (3, "out\n", "err\n")
    assert second.stdout == "piped\n"
    assert again.exit_status == 0
    assert ssh.connections_opened() == {"node-01": 1}


def test_check_raises_remote_command_error_with_last_lines(server: Sshd) -> None:
    with ssh.Connections(_stack(server)) as pool, pytest.raises(RemoteCommandError) as caught:
        pool.get(_node(server.port)).check("echo boom >&2; exit 7")
    assert str(caught.value) == "node-01: `echo boom >&2; exit 7` exited with 7: boom"


def test_large_output_does_not_deadlock(server: Sshd) -> None:
    with ssh.Connections(_stack(server)) as pool:
        result = pool.get(_node(server.port)).run("head -c 3000000 /dev/zero | tr '\\0' x")
    assert len(result.stdout) == 3_000_000


def test_unknown_host_key_is_refused_and_not_added(tmp_path: Path) -> None:
    with running_sshd(tmp_path / "sshd", trusted=False) as server:
        with ssh.Connections(_stack(server)) as pool, pytest.raises(HostKeyError) as caught:
            pool.get(_node(server.port)).run("true")
        assert server.known_hosts.read_text() == ""
    assert str(caught.value).startswith("node-01: unknown host key SHA256:")
    assert "run `cctview-fleet trust node-01`" in str(caught.value)


def test_changed_host_key_is_refused(server: Sshd, tmp_path: Path) -> None:
    other = keygen(tmp_path / "other_host_key")
    server.known_hosts.write_text(f"[127.0.0.1]:{server.port} {' '.join(other.split()[:2])}\n")
    with ssh.Connections(_stack(server)) as pool, pytest.raises(HostKeyError) as caught:
        pool.get(_node(server.port)).run("true")
    assert "HOST KEY CHANGED for [127.0.0.1]:" in str(caught.value)


def test_stopped_node_is_unreachable_fast(server: Sshd) -> None:
    server.stop()
    started = time.monotonic()
    pool = ssh.Connections(_stack(server), connect_timeout=2)
    with pool, pytest.raises(UnreachableError) as caught:
        pool.get(_node(server.port)).run("true")
    assert time.monotonic() - started < 2.5
    # Normally "connection refused"; on a busy machine another process may own the port by now.
    assert f"node-01: cannot connect to 127.0.0.1:{server.port}: " in str(caught.value)


def test_silent_port_times_out_within_connect_timeout(server: Sshd) -> None:
    # A listening socket that never speaks SSH: the banner wait must end at the timeout.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        pool = ssh.Connections(_stack(server), connect_timeout=1)
        with pool, pytest.raises(UnreachableError):
            pool.get(_node(port)).run("true")
        assert time.monotonic() - started < 3


def test_wrong_client_key_is_one_line(server: Sshd, tmp_path: Path) -> None:
    keygen(tmp_path / "stranger")
    stack = Stack(
        name="t",
        ssh_user=server.user,
        ssh_key=str(tmp_path / "stranger"),
        known_hosts=str(server.known_hosts),
    )
    with ssh.Connections(stack) as pool, pytest.raises(Exception) as caught:
        pool.get(_node(server.port)).run("true")
    assert "refused the key" in str(caught.value)


def test_stream_lines_until_stop(server: Sshd) -> None:
    stop = threading.Event()
    seen: list[str] = []
    with ssh.Connections(_stack(server)) as pool:
        conn = pool.get(_node(server.port))
        for line in conn.stream_lines("for i in 1 2 3; do echo line$i; done; sleep 30", stop):
            seen.append(line)
            if len(seen) == 3:
                stop.set()
    assert seen == ["line1", "line2", "line3"]


def test_stream_lines_raises_when_connection_drops(server: Sshd) -> None:
    stop = threading.Event()
    with ssh.Connections(_stack(server)) as pool:
        conn = pool.get(_node(server.port))
        # The command kills its own sshd session process: the link drops mid-stream.
        lines = conn.stream_lines("echo ready; sleep 0.5; kill -9 $PPID; sleep 30", stop)
        assert next(lines) == "ready"
        with pytest.raises(UnreachableError):
            for _ in lines:
                pass


def test_fetch_host_key_and_fingerprint_match_ssh_keygen(server: Sshd) -> None:
    import subprocess

    key = hostkeys.fetch_host_key("node-01", "127.0.0.1", server.port)
    expected = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(server.folder / "host_ed25519.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert hostkeys.fingerprint(key) == expected


def test_fetch_host_key_of_closed_port_is_unreachable() -> None:
    with pytest.raises(UnreachableError):
        hostkeys.fetch_host_key("node-09", "127.0.0.1", free_port(), timeout=1)


def _session_processes(server: Sshd) -> list[int]:
    """The per-connection sshd processes: the listener's children."""
    assert server.process is not None
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.process.pid:
            children.append(int(stat.parent.name))
    return children


def test_log_follow_reconnects_after_the_server_drops_the_link(server: Sshd, tmp_path: Path):
    import os
    import queue
    import signal

    from cctview_fleet.nodes.logtail import LogEvent, read_node

    log = tmp_path / "agent.log"
    log.write_text('{"event": "one"}\n')
    out: queue.Queue[LogEvent] = queue.Queue()
    stop = threading.Event()
    with ssh.Connections(_stack(server)) as pool:
        reader = threading.Thread(
            target=read_node,
            args=(_node(server.port), pool, out, stop),
            kwargs={
                "lines": 10,
                "follow": True,
                "keep": lambda line: True,
                "path": str(log),
                "delays": (0.2,),
            },
            daemon=True,
        )
        reader.start()
        try:
            assert out.get(timeout=10).text == '{"event": "one"}'
            for pid in _session_processes(server):
                os.kill(pid, signal.SIGKILL)  # the server side of the link dies
            notice = out.get(timeout=10)
            assert notice.notice and "reconnecting in 0.2 s" in notice.text
            deadline = time.monotonic() + 10
            seen: list[str] = []
            while time.monotonic() < deadline and '{"event": "two"}' not in seen:
                with log.open("a") as handle:
                    handle.write('{"event": "two"}\n')
                try:
                    seen.append(out.get(timeout=1).text)
                except queue.Empty:
                    continue
            assert '{"event": "two"}' in seen
            assert '{"event": "one"}' not in seen, "lines shown before the drop are not repeated"
        finally:
            stop.set()
            reader.join(timeout=5)
    assert not reader.is_alive()


def test_a_line_without_end_is_cut_at_the_bound_not_held_whole(server: Sshd) -> None:
    """A node that prints 8 MB with no newline used to grow one buffer by 8 MB (any amount)."""
    from cctview_fleet.remote.linebuffer import CUT_MARK, MAX_LINE_BYTES

    stop = threading.Event()
    command = "head -c 8000000 /dev/zero | tr '\\0' x; echo; echo after; printf tail"
    with ssh.Connections(_stack(server)) as pool:
        seen = list(pool.get(_node(server.port)).stream_lines(command, stop))
    assert seen == ["x" * MAX_LINE_BYTES + CUT_MARK.format(limit=MAX_LINE_BYTES), "after", "tail"]


def test_run_stops_reading_output_past_its_bound(server: Sshd, monkeypatch) -> None:
    from cctview_fleet.errors import NodeError

    monkeypatch.setattr(ssh, "MAX_OUTPUT_BYTES", 2 * 2**20)
    with ssh.Connections(_stack(server)) as pool, pytest.raises(NodeError) as caught:
        pool.get(_node(server.port)).run("head -c 3000000 /dev/zero; echo boom >&2")
    assert "printed more than 2 MiB; stopped reading it" in str(caught.value)


def test_log_tail_holds_a_bounded_queue_and_loses_no_line(
    server: Sshd, tmp_path: Path, monkeypatch
):
    """A node faster than the terminal used to fill an unbounded queue in the operator's memory;
    now its reader waits (and the SSH window makes the node's tail wait)."""
    from cctview_fleet.nodes import logtail

    log = tmp_path / "agent.log"
    log.write_text("".join(f'{{"n": {i}}}\n' for i in range(500)))
    monkeypatch.setattr(logtail, "QUEUE_EVENTS", 50)
    monkeypatch.setattr(logtail, "log_path", lambda node, connections: str(log))
    stop = threading.Event()
    with ssh.Connections(_stack(server)) as pool:
        tail = logtail.LogTail(
            [_node(server.port)],
            pool,
            lines=None,
            follow=False,
            log_filter=logtail.LogFilter(),
            stop=stop,
        )
        events = iter(tail)
        first = next(events)  # the reader runs; the consumer now pauses
        time.sleep(1.5)
        assert tail._out.qsize() <= 50
        got = [first.text, *(event.text for event in events)]
    assert got == [f'{{"n": {i}}}' for i in range(500)]  # nothing lost while it waited
