"""What happens during a run, as it happens: the stream the audit journal, the run index, the
daemon's observations and plugin sinks listen to.

An event is a frozen value: its kind (an EventKind), a typed payload (one frozen dataclass per
kind), the host and play it concerns and when it happened. `Payload.record()` is the payload as
the audit journal records it: the keys and values written before payloads were typed, so that
journals old and new read and verify alike (readers of journals work on those dicts).
Sinks must be thread-safe (hosts run in threads); a sink may say which kinds it wants
(`kinds`, see `wanted`), else it receives them all.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import field, fields
from enum import Enum
from typing import Any, ClassVar, Protocol

from jarvisctl.core.frozen import frozen

TAIL = 400  # characters of a command's output kept in its command event


class EventKind(str, Enum):
    """The kinds of events; the values are the `kind` of the journal's records."""

    RUN_STARTED = "run_started"
    HOST_CONNECTED = "host_connected"
    HOST_UNREACHABLE = "host_unreachable"
    HOST_FAILED = "host_failed"
    HOST_INTERRUPTED = "host_interrupted"
    HOST_SKIPPED = "host_skipped"
    BATCH = "batch"
    COMMAND = "command"
    CHECK = "check"
    REMEDIATION = "remediation"
    CIRCUIT_OPEN = "circuit_open"
    LEASE_TAKEOVER = "lease_takeover"
    RUN_FINISHED = "run_finished"
    RUN_INCOMPLETE = "run_incomplete"
    BACKUP = "backup"
    BACKUP_VERIFY = "backup_verify"
    BACKUP_PRUNE = "backup_prune"
    BACKUP_RESTORE = "backup_restore"
    BACKUP_STORE_CHECK = "backup_store_check"
    STEP = "step"
    GATE = "gate"
    ROLLOUT = "rollout"
    ROLLOUT_HOST = "rollout_host"
    ALERT_ACK = "alert_ack"
    SILENCE = "silence"
    NOTIFY_TEST = "notify_test"
    REMEDIATION_ESCALATED = "remediation_escalated"
    MAINTENANCE = "maintenance"

    def __str__(self) -> str:
        return self.value

    # a kind and its journal spelling are the same key: `record.kind in {CHECK, ...}` holds
    # for a record read back from a journal, whose kind is a plain str
    def __hash__(self) -> int:
        return str.__hash__(self)


# The kinds by their old names, for readers comparing a journal record's kind.
RUN_STARTED = EventKind.RUN_STARTED
HOST_CONNECTED = EventKind.HOST_CONNECTED
HOST_UNREACHABLE = EventKind.HOST_UNREACHABLE
HOST_FAILED = EventKind.HOST_FAILED
HOST_INTERRUPTED = EventKind.HOST_INTERRUPTED
HOST_SKIPPED = EventKind.HOST_SKIPPED
BATCH = EventKind.BATCH
COMMAND = EventKind.COMMAND
CHECK = EventKind.CHECK
REMEDIATION = EventKind.REMEDIATION
CIRCUIT_OPEN = EventKind.CIRCUIT_OPEN
LEASE_TAKEOVER = EventKind.LEASE_TAKEOVER
RUN_FINISHED = EventKind.RUN_FINISHED
RUN_INCOMPLETE = EventKind.RUN_INCOMPLETE
BACKUP = EventKind.BACKUP
BACKUP_VERIFY = EventKind.BACKUP_VERIFY
BACKUP_PRUNE = EventKind.BACKUP_PRUNE
BACKUP_RESTORE = EventKind.BACKUP_RESTORE
# a backup's records: its take, then its verification and pruning (or a restore of it)
BACKUP_KINDS = (BACKUP, BACKUP_VERIFY, BACKUP_PRUNE, BACKUP_RESTORE)
BACKUP_STORE_CHECK = EventKind.BACKUP_STORE_CHECK
REMEDIATION_ESCALATED = EventKind.REMEDIATION_ESCALATED
MAINTENANCE = EventKind.MAINTENANCE


class Payload(Protocol):
    """What an event carries: its kind, and its journal record (JSON values only)."""

    @property
    def kind(self) -> EventKind: ...

    def record(self) -> dict[str, Any]: ...


def plain(value: Any) -> Any:
    """A JSON-ready copy: mappings as dicts, tuples and lists as lists (JSON writes both as
    arrays, so the bytes are those of the lists the records held before)."""
    if value is None or type(value) in _SCALARS:  # most values: no ABC check (every event)
        return value
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


_SCALARS = frozenset({str, int, float, bool})


class Fields:
    """A payload whose record is its fields, in order."""

    def record(self) -> dict[str, Any]:
        cls: Any = type(self)  # a class is hashable (mypy reads Hashable against instances)
        return {name: plain(getattr(self, name)) for name in _field_names(cls)}


@functools.cache
def _field_names(cls: Any) -> tuple[str, ...]:
    """A payload class's field names, read once per class (fields() walks them each call)."""
    return tuple(f.name for f in fields(cls))


@frozen
class RunStarted(Fields):
    """A run begins: who started it, where and how, the sha256 of its playbooks and inventory, and
    the hosts it plans for."""

    kind: ClassVar[EventKind] = RUN_STARTED
    run_id: str
    mode: str  # run | check
    source: str  # cli | daemon
    user: str
    controller: str
    pid: int
    version: str
    playbooks: Mapping[str, str | None]  # file -> sha256
    inventory: Mapping[str, str | None]  # source, sha256
    arguments: tuple[str, ...]
    limit: str | None
    tags: tuple[str, ...]
    hosts: tuple[str, ...]


@frozen
class HostConnected(Fields):
    """The host's connection is open: the host key it showed (and one `accept-new` added to
    known_hosts), and how long connecting took."""

    kind: ClassVar[EventKind] = HOST_CONNECTED
    address: str
    host_key: str  # SHA256:...
    accepted_host_key: str | None
    seconds: float


@frozen
class HostUnreachable(Fields):
    """The host could not be reached, or its connection was lost: its address and the error."""

    kind: ClassVar[EventKind] = HOST_UNREACHABLE
    address: str
    error: str


@frozen
class HostFailed(Fields):
    """The host's session ended failed, not unreachable (an error in its work, a failed rollout
    turn): why."""

    kind: ClassVar[EventKind] = HOST_FAILED
    error: str


@frozen
class HostInterrupted(Fields):
    """The run's stop ended the host's session."""

    kind: ClassVar[EventKind] = HOST_INTERRUPTED
    address: str
    error: str


@frozen
class HostSkipped:
    """The host is not worked on in a play. When another run's lease holds it, the holder:
    its run id (owner), source, pid, controller and when its lease expires."""

    kind: ClassVar[EventKind] = HOST_SKIPPED
    reason: str
    owner: str | None = None
    pid: int | None = None
    controller: str | None = None
    source: str | None = None
    expires: float | None = None

    def record(self) -> dict[str, Any]:
        if self.owner is None:
            return {"reason": self.reason}
        return {
            "reason": self.reason,
            "owner": self.owner,
            "pid": self.pid,
            "controller": self.controller,
            "source": self.source,
            "expires": self.expires,
        }


@frozen
class Batch(Fields):
    """One script of checks on one channel."""

    kind: ClassVar[EventKind] = BATCH
    purpose: str  # checks | verify
    commands: int
    exit_code: int | None
    seconds: float
    timed_out: bool


@frozen
class CommandOutput(Fields):
    """A command's whole output, beside its tails: `digest` covers both streams (the sha256 of
    the two streams' own digests); each stream's digest and size too."""

    digest: str
    stdout_bytes: int
    stderr_bytes: int
    stdout_sha256: str
    stderr_sha256: str
    truncated: bool


@frozen
class Command:
    """One command's result. `output` is None when the command left no output to read (its
    script ended first): then the record has `digest: null` and no `seconds`. `timed_out` is
    recorded for remediation commands only (checks' batches say it)."""

    kind: ClassVar[EventKind] = COMMAND
    purpose: str  # checks | verify | remediation
    check: str
    command: str
    exit_code: int | None
    stdout_tail: str
    stderr_tail: str
    seconds: float | None = None
    output: CommandOutput | None = None
    timed_out: bool | None = None

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "purpose": self.purpose,
            "check": self.check,
            "command": self.command,
            "exit_code": self.exit_code,
            "stdout_tail": self.stdout_tail,
            "stderr_tail": self.stderr_tail,
        }
        if self.output is None:
            record["digest"] = None
        else:
            record["seconds"] = self.seconds
            record.update(self.output.record())
        if self.timed_out is not None:
            record["timed_out"] = self.timed_out
        return record


@frozen
class Check(Fields):
    """One check's result on the host: its value, its status and the status before, and why."""

    kind: ClassVar[EventKind] = CHECK
    check: str
    check_kind: str  # recorded as "kind": the check kind (disk, command, ...)
    value: float | None
    unit: str
    status: str
    raw_status: str
    previous_status: str | None
    flapping: bool
    reason: str
    perfdata: tuple[Mapping[str, Any], ...]  # a Nagios plugin's {label, value, uom, warn, ...}
    source: str = "command"  # how it was measured: command, native, or why native was not used
    # the command that measured it, when the check's record carries it (a run's checks: one
    # record a check); its fields join the record's (`command`, `exit_code`, the tails, ...)
    ran: Command | None = None

    def record(self) -> dict[str, Any]:
        record = {
            ("kind" if name == "check_kind" else name): plain(getattr(self, name))
            for name in _CHECK_FIELDS
        }
        if self.ran is not None:
            measured = self.ran.record()
            del measured["purpose"], measured["check"]
            record.update(measured)
        return record


_CHECK_FIELDS = tuple(f.name for f in fields(Check) if f.name != "ran")


@frozen
class Remediation(Fields):
    """One rung of a check's remediation ladder on the host: how it ended, its commands and their
    exit codes, and what the re-run check read."""

    kind: ClassVar[EventKind] = REMEDIATION
    check: str
    use: str
    rung: int
    outcome: str
    reason: str
    commands: tuple[str, ...]
    exit_codes: tuple[int | None, ...]
    verified_value: float | None
    verified_status: str | None
    verified_perfdata: tuple[Mapping[str, Any], ...]
    seconds: float


@frozen
class RemediationEscalated(Fields):
    """A check whose every remediation's budget is spent and that has not recovered: no
    automatic attempt until it recovers or an operator resets it (`jarvisctl remediations
    reset`). Said by each run that finds it so, from the run that escalated it on; `since` is
    when it was escalated (epoch seconds)."""

    kind: ClassVar[EventKind] = REMEDIATION_ESCALATED
    check: str
    since: float
    reason: str


@frozen
class Maintenance(Fields):
    """jarvisctl begins work on the host that may make it look broken: a reboot step, a backup
    (the event's host and play). `key` names the event that ends it (`step:PHASE:INDEX`, the
    step's Step event; `backup:NAME`, the backup's Backup event); `seconds` is the longest it
    may take. Alerts it causes are silenced meanwhile (notify/maintenance.py)."""

    kind: ClassVar[EventKind] = MAINTENANCE
    what: str  # reboot | backup
    name: str
    key: str
    seconds: float


@frozen
class CircuitOpen(Fields):
    """The fleet circuit breaker held back a remediation in a play (the event's play)."""

    kind: ClassVar[EventKind] = CIRCUIT_OPEN
    check: str
    use: str
    hosts: tuple[str, ...]
    of: int
    percent: float
    limit: float


@frozen
class LeaseTakeover(Fields):
    """A lease whose holder is gone (expired, or its process died) was taken over."""

    kind: ClassVar[EventKind] = LEASE_TAKEOVER
    previous_owner: str
    previous_pid: int
    previous_controller: str
    previous_source: str
    expired: bool
    expired_seconds_ago: float


@frozen
class RunFinished(Fields):
    """The run ended (interrupted or not): how long it took, its recap, and how each host's session
    ended."""

    kind: ClassVar[EventKind] = RUN_FINISHED
    run_id: str
    interrupted: bool
    seconds: float
    recap: Mapping[str, Mapping[str, int]]  # host -> {ok, warning, ...}
    hosts: tuple[Mapping[str, Any], ...]  # each session's {host, play, outcome, seconds, error}


@frozen
class RunIncomplete:
    """The last record of a run that could not record everything, instead of run_finished:
    the store's fault, the events not journaled since, and run_finished's data when the run
    got that far."""

    kind: ClassVar[EventKind] = RUN_INCOMPLETE
    run_id: str
    reason: str
    lost: int
    finished: RunFinished | None = None

    def record(self) -> dict[str, Any]:
        before = {} if self.finished is None else self.finished.record()
        return {**before, "run_id": self.run_id, "reason": self.reason, "lost": self.lost}


@frozen
class Event:
    """One event: its payload (whose kind is the event's), the host and play it concerns (None: the
    run's own), and when it happened (epoch seconds)."""

    payload: Payload
    host: str | None = None
    play: str | None = None
    at: float = field(default_factory=time.time)

    @property
    def kind(self) -> EventKind:
        return self.payload.kind

    @property
    def data(self) -> dict[str, Any]:
        """The payload as the journal records it."""
        return self.payload.record()


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


def wanted(sink: object) -> frozenset[EventKind] | None:
    """The kinds a sink subscribes to (its `kinds` attribute); None: every kind."""
    kinds = getattr(sink, "kinds", None)
    return None if kinds is None else frozenset(kinds)


class NullSink:
    kinds: frozenset[EventKind] = frozenset()

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

    def of_kind(self, kind: EventKind) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]


class Fanout:
    """Sends each event to several sinks, in order."""

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        self.sinks = tuple(sinks)

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)
