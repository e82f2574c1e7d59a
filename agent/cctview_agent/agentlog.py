"""The agent's log: JSON lines in ``log_file``, rotated by size, one line per state change.

Rotation renames ``agent.log`` to ``agent.log.1`` (and so on) and opens a fresh file, which is
what ``tail -F`` (and ``cctview-fleet logs --follow`` over SSH) follows across rotations. Lines
are events, never one per frame: a camera going from ok to failing, the disk guard pausing,
a period closed, a reload.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import time
from pathlib import Path
from typing import Any

LOGGER_NAME = "cctview_agent"
BACKUPS = 3


class JsonLineFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "event": ..., <fields>}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class EventLog:
    """A thin front over :mod:`logging` that takes an event name and keyword fields."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def info(self, event: str, **fields: Any) -> None:
        self._logger.info(event, extra={"fields": fields})

    def warning(self, event: str, **fields: Any) -> None:
        self._logger.warning(event, extra={"fields": fields})

    def error(self, event: str, **fields: Any) -> None:
        self._logger.error(event, extra={"fields": fields})


def open_log(path: Path, max_bytes: int) -> EventLog:
    """Log to ``path`` (rotated at ``max_bytes``); replaces handlers of an earlier call."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return EventLog(logger)


def close_log() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
