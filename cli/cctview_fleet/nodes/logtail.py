"""Tail the agents' JSON-lines logs on many nodes at once, over one SSH connection each.

Each node gets a reader thread that runs ``tail`` on the node's log file (its path comes from
``cctview-agent status --json``) and puts ``(node, line)`` on one queue; the caller prints from the
queue, so lines of different nodes never interleave mid-line. Following uses ``tail -F``, which
survives the agent's log rotation; a dropped connection is reopened with a growing pause, and
lines already shown are not repeated (the new tail starts at the end). Filtering (``--since``,
``--grep``) happens here, on the JSON's ``ts`` field and the raw line. The reader's own notices
(reconnecting, a node's error) are events of their own, which ``logs`` writes to stderr, so
stdout carries only the agents' lines.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.errors import CctviewError, ConfigError, NodeError, UnreachableError
from cctview_fleet.nodes.status import node_status
from cctview_fleet.remote.ssh import Connections, quote

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0)
QUEUE_EVENTS = 10_000  # lines waiting to be printed, all nodes together (then readers wait)


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h`` or ``1d``."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(
            f"--since {text!r} is not a duration; use e.g. 90s, 15m, 2h or 1d", key="since"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def compile_grep(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"--grep {pattern!r} is not a valid regular expression: {exc}", key="grep"
        ) from exc


def line_time(line: str) -> datetime | None:
    """The ``ts`` of a JSON log line, or None for lines that have none."""
    try:
        record = json.loads(line)
        return datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class LogFilter:
    since: datetime | None = None
    grep: re.Pattern[str] | None = None

    def keep(self, line: str) -> bool:
        if self.grep is not None and not self.grep.search(line):
            return False
        if self.since is not None:
            when = line_time(line)
            if when is not None and when < self.since:
                return False
        return True


@dataclass(frozen=True, slots=True)
class LogEvent:
    """A line from a node, or (``notice``) the reader's own word about the link."""

    node: str
    text: str
    notice: bool = False


def notice_text(event: LogEvent) -> str:
    """A reader's own message for stderr, naming its node once (errors already start with it)."""
    prefix = f"{event.node}: "
    return event.text if event.text.startswith(prefix) else prefix + event.text


def tagged_line(node: str, line: str) -> str:
    """The agent's JSON line with ``"node"`` put first, for a pipe: still one JSON object a line
    (``| jq 'select(.level == "warning")'``), and the node survives the merge of many nodes.
    A line that is not a JSON object (a torn line at rotation) is kept whole as ``"text"``."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return json.dumps({"node": node, "text": line}, ensure_ascii=False)
    record.pop("node", None)
    return json.dumps({"node": node, **record}, ensure_ascii=False, separators=(",", ":"))


def tail_command(path: str, *, lines: int | None, follow: bool) -> str:
    """``tail`` for the log; ``lines`` None means the whole file."""
    start = "+1" if lines is None else str(lines)
    flags = ["-F"] if follow else []
    command = f"tail -n {start} {' '.join(flags)} -- {quote(path)}"
    if not follow:
        # A node whose agent has not logged yet has no file: that is an empty log, not an error.
        command = f"if [ -e {quote(path)} ]; then {command}; fi"
    return " ".join(command.split())


def log_path(node: Node, connections: Connections) -> str:
    status = node_status(node, connections)
    if not status.log_file:
        raise NodeError(node.name, "the agent's status names no log_file; upgrade the agent")
    return status.log_file


def read_node(
    node: Node,
    connections: Connections,
    out: queue.Queue[LogEvent],
    stop: threading.Event,
    *,
    lines: int | None,
    follow: bool,
    keep: Callable[[str], bool],
    path: str | None = None,
    delays: Sequence[float] = RECONNECT_DELAYS,
) -> None:
    """Put the node's log lines on ``out``; when following, reconnect until ``stop``.

    ``path`` is the log file; by default the agent's status names it.
    """
    path = path or log_path(node, connections)
    command = tail_command(path, lines=lines, follow=follow)
    attempt = 0
    while not stop.is_set():
        try:
            for line in connections.get(node).stream_lines(command, stop):
                attempt = 0
                if keep(line) and not put_until_stopped(out, LogEvent(node.name, line), stop):
                    return
            if not follow:
                return
            raise UnreachableError(node.name, "tail ended")
        except UnreachableError as error:
            if not follow:
                raise
            delay = delays[min(attempt, len(delays) - 1)]
            attempt += 1
            notice = LogEvent(node.name, f"{error}; reconnecting in {delay:g} s", notice=True)
            put_until_stopped(out, notice, stop)
            if stop.wait(delay):
                return
            # Lines shown before the drop are not repeated: resume at the end of the file.
            command = tail_command(path, lines=0, follow=True)


def put_until_stopped(out: queue.Queue[LogEvent], event: LogEvent, stop: threading.Event) -> bool:
    """Put ``event`` on the bounded queue, waiting while it is full; False once ``stop`` is set.

    The wait is the back-pressure: a reader stops taking lines from its SSH channel, the
    channel's window fills, and the node's ``tail`` blocks, instead of the operator's memory."""
    while not stop.is_set():
        try:
            out.put(event, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


class LogTail:
    """Lines of every node as they come, until all readers end (or ``stop`` is set).

    A node's error arrives as a notice event and is kept in :attr:`failures`, so one failing
    node never stops the others.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        connections: Connections,
        *,
        lines: int | None,
        follow: bool,
        log_filter: LogFilter,
        stop: threading.Event,
    ) -> None:
        self.nodes = list(nodes)
        self.connections = connections
        self.lines = lines
        self.follow = follow
        self.log_filter = log_filter
        self.stop = stop
        self.failures: dict[str, CctviewError] = {}
        self._out: queue.Queue[LogEvent] = queue.Queue(maxsize=QUEUE_EVENTS)

    def _work(self, node: Node) -> None:
        try:
            read_node(
                node,
                self.connections,
                self._out,
                self.stop,
                lines=self.lines,
                follow=self.follow,
                keep=self.log_filter.keep,
            )
        except CctviewError as error:
            self.failures[node.name] = error
            put_until_stopped(self._out, LogEvent(node.name, str(error), notice=True), self.stop)

    def __iter__(self) -> Iterator[LogEvent]:
        threads = [
            threading.Thread(target=self._work, args=(n,), name=f"logs-{n.name}", daemon=True)
            for n in self.nodes
        ]
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads) or not self._out.empty():
                try:
                    yield self._out.get(timeout=0.1)
                except queue.Empty:
                    continue
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=2)


def since_time(duration: str | None, now: datetime | None = None) -> datetime | None:
    if duration is None:
        return None
    now = now or datetime.now(UTC)
    return datetime.fromtimestamp(now.timestamp() - parse_duration(duration), UTC)
