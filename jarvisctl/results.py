"""What a run did: frozen values, layered check → host → run, read by every output."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Status(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class Outcome(enum.Enum):
    """How a host's session ended. Unreachable is never failed, and failed never unreachable."""

    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: str
    command: str
    status: Status
    value: float | None
    unit: str
    reason: str  # why the status is what it is: the threshold crossed, or why UNKNOWN
    exit_code: int | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    source: str = "command"  # how it was measured: command, native, or why native was not used
    raw_status: Status | None = None  # what the thresholds alone say, before history
    flapping: bool = False
    previous_status: Status | None = None  # the status before this cycle (None: first seen)
    perfdata: tuple[Any, ...] = ()  # kinds.base.PerfDatum values a Nagios plugin reported


class Attempt(enum.Enum):
    """How one rung of a remediation ladder ended."""

    VERIFIED = "verified"  # ran, and the re-run check is back to a verified status
    NOT_VERIFIED = "not verified"  # ran, but the check did not recover
    FAILED = "failed"  # the remediation's own command failed
    SKIPPED = "skipped"  # not run: budget spent, cooldown, circuit breaker, escalated...
    WOULD_RUN = "would run"  # check mode: what a real run would do


@dataclass(frozen=True)
class RemediationNote:
    """One rung of a check's remediation ladder on one host, and what happened to it."""

    check: str
    use: str
    outcome: Attempt
    reason: str
    commands: tuple[str, ...] = ()
    rung: int = 1
    exit_codes: tuple[int | None, ...] = ()
    verification: CheckResult | None = None
    duration: float = 0.0


@dataclass(frozen=True)
class HostRun:
    host: str
    play: str
    address: str
    outcome: Outcome
    checks: tuple[CheckResult, ...] = ()
    remediations: tuple[RemediationNote, ...] = ()
    error: str = ""
    duration: float = 0.0
    host_key: str = ""

    def counts(self) -> Counter[Status]:
        return Counter(c.status for c in self.checks)


@dataclass(frozen=True)
class RunReport:
    run_id: str
    mode: str  # "run" or "check"
    started: datetime
    finished: datetime
    hosts: tuple[HostRun, ...]
    interrupted: bool = False
    playbooks: tuple[str, ...] = field(default_factory=tuple)

    def failing_checks(self) -> list[tuple[HostRun, CheckResult]]:
        return [(h, c) for h in self.hosts for c in h.checks if c.status is not Status.OK]

    @property
    def any_unreachable(self) -> bool:
        return any(h.outcome is Outcome.UNREACHABLE for h in self.hosts)

    @property
    def any_not_ok(self) -> bool:
        return any(h.outcome is Outcome.FAILED for h in self.hosts) or bool(self.failing_checks())
