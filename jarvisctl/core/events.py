"""What happens during a run, as it happens: the stream the audit journal, live output and
metrics listen to. Events are frozen values; sinks must be thread-safe (hosts run in threads)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Event kinds, and the data each carries (all JSON-serialisable):
RUN_STARTED = "run_started"  # run_id, mode, user, playbooks {file: sha256}, inventory, args
HOST_CONNECTED = "host_connected"  # address, host_key (SHA256:...), accepted_host_key, seconds
HOST_UNREACHABLE = "host_unreachable"  # address, error
HOST_FAILED = "host_failed"  # error
HOST_INTERRUPTED = "host_interrupted"  # address, error: the run's stop ended its session
HOST_SKIPPED = "host_skipped"  # reason; when held by another run's lease: owner (its run id),
# source, pid, controller, expires
BATCH = "batch"  # purpose (checks|verify), commands (count), exit_code, seconds, timed_out
COMMAND = "command"  # purpose, check, command, exit_code, stdout_tail, stderr_tail, digest
CHECK = "check"  # check, value, unit, status, raw_status, previous_status, flapping, reason,
#                  perfdata [{label, value, uom, warn, crit, min, max}] (a Nagios plugin's)
REMEDIATION = "remediation"  # check, use, rung, outcome, reason, commands, results
CIRCUIT_OPEN = "circuit_open"  # play, use, check, hosts, percent, limit
RUN_FINISHED = "run_finished"  # interrupted, recap {host: {ok, warning, ...}}, seconds

TAIL = 400


@dataclass(frozen=True)
class Event:
    kind: str
    host: str | None = None
    play: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class NullSink:
    def emit(self, event: Event) -> None:
        pass


class Collector:
    """Keeps every event in memory (tests, and callers that want the whole stream)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of_kind(self, kind: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]


class Fanout:
    """Sends each event to several sinks, in order."""

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        self.sinks = tuple(sinks)

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)
