"""Structured logs: one line per event, `logfmt` (key=value) or JSON, on one stream.

Libraries that log through `logging` (APScheduler) are routed into the same lines.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
Level = Literal["debug", "info", "warning", "error"]


LEVELS: tuple[Level, ...] = ("debug", "info", "warning", "error")


class EventLog:
    """Thread-safe; every call at or above `level` writes exactly one line."""

    def __init__(self, stream: TextIO, fmt: LogFormat = "text", level: Level = "info") -> None:
        self.stream, self.fmt = stream, fmt
        self._least = LEVELS.index(level)
        self._lock = threading.Lock()

    def debug(self, event: str, **fields: Any) -> None:
        self.write("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self.write("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.write("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self.write("error", event, fields)

    def write(self, level: Level, event: str, fields: Mapping[str, Any]) -> None:
        if LEVELS.index(level) < self._least:
            return
        record = {"ts": _timestamp(time.time()), "level": level, "event": event, **fields}
        line = json.dumps(record, default=str) if self.fmt == "json" else _logfmt(record)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds")


def _logfmt(record: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={_logfmt_value(value)}" for key, value in record.items())


def _logfmt_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not any(c in text for c in ' ="\\\n\t'):
        return text
    return json.dumps(text)


class _Bridge(logging.Handler):
    def __init__(self, log: EventLog) -> None:
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        level: Level = "error" if record.levelno >= logging.ERROR else "warning"
        self.log.write(level, record.name, {"message": record.getMessage()})


def route_library_logs(
    log: EventLog, names: tuple[str, ...] = ("apscheduler", "jarvisctl.backup")
) -> None:
    """Warnings and errors of these loggers become our lines (and only ours): the libraries',
    and the backup stage's reports of what killed processes left (backup/leftovers.py)."""
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers = [_Bridge(log)]
        logger.propagate = False
        logger.setLevel(logging.WARNING)
