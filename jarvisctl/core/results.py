"""What a run did: frozen values, layered check → host → run, read by every output."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping
from dataclasses import field
from datetime import datetime
from typing import Any

from jarvisctl.core.frozen import frozen


class Status(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    # By identity, as equality is (Enum's own hashes the name, in Python): every check's
    # history of 21 statuses is hashed and looked up at every cycle.
    __hash__ = object.__hash__


class Outcome(enum.Enum):
    """How a host's session ended. Unreachable is never failed, and failed never unreachable;
    a session the run's own stop ended is interrupted, never unreachable; a host the run did
    not work on (held by another run's lease, or not started before an interrupt) is skipped,
    with the reason in HostRun.error, and never counts as OK."""

    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


# sessions that did not end with their checks' results: counted per host in the recap
CUT_SHORT = (Outcome.UNREACHABLE, Outcome.FAILED, Outcome.INTERRUPTED, Outcome.SKIPPED)


class RunStatus(enum.Enum):
    """A whole run's verdict. The order is the precedence, worst first: the first that applies
    is the run's status (and `jarvisctl run`'s exit code, see README "Exit codes").

    An interrupted run says so whatever else happened; a host that could not be reached, or
    that was not worked on at all, leaves the run without an answer for it, which outranks a
    check found not OK on the hosts that did answer."""

    INTERRUPTED = "interrupted"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"
    NOT_OK = "not_ok"
    OK = "ok"


# A run's recap: per host, how many checks ended in each status, and how many sessions were cut
# short (unreachable, failed, interrupted, skipped) or changed something. Both the run (in
# memory) and its journal's run_finished record have it, so the run's status is read from it.
Recap = Mapping[str, Mapping[str, int]]
RECAP_COLUMNS = (
    "ok",
    "warning",
    "critical",
    "unknown",
    "changed",
    "unreachable",
    "failed",
    "interrupted",
    "skipped",
)
NOT_OK_COUNTS = ("warning", "critical", "unknown", "failed")


def run_status(interrupted: bool, recap: Recap) -> RunStatus:
    """The run's status, by RunStatus's precedence: the one place it is decided. The exit code,
    the run index, the reports and the daemon's job outcome all read this."""

    def some(*keys: str) -> bool:
        return any(counts.get(key, 0) for counts in recap.values() for key in keys)

    applies = {
        RunStatus.INTERRUPTED: interrupted or some("interrupted"),
        RunStatus.UNREACHABLE: some("unreachable"),
        RunStatus.SKIPPED: some("skipped"),
        RunStatus.NOT_OK: some(*NOT_OK_COUNTS),
        RunStatus.OK: True,
    }
    return next(status for status in RunStatus if applies[status])


def recap_totals(recap: Recap) -> dict[str, int]:
    """The recap's counts summed over its hosts."""
    out: dict[str, int] = {}
    for counts in recap.values():
        for key, n in counts.items():
            out[key] = out.get(key, 0) + int(n)
    return out


@frozen
class PerfDatum:
    """One Nagios perfdata item, `'label'=value[UOM];[warn];[crit];[min];[max]`, kept as given."""

    label: str
    value: float | None  # None for `U`: the plugin could not measure it
    uom: str = ""
    warn: str = ""  # the plugin's own ranges, in Nagios range syntax
    crit: str = ""
    min: float | None = None
    max: float | None = None

    def as_record(self) -> dict[str, Any]:
        """The JSON form written to the journal and `run --json`, read back by `from_record`."""
        return {
            "label": self.label,
            "value": self.value,
            "uom": self.uom,
            "warn": self.warn,
            "crit": self.crit,
            "min": self.min,
            "max": self.max,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> PerfDatum:
        """Back from a journal record; a field of the wrong type reads as absent."""
        return cls(
            label=str(data.get("label", "")),
            value=number_or_none(data.get("value")),
            uom=str(data.get("uom") or ""),
            warn=str(data.get("warn") or ""),
            crit=str(data.get("crit") or ""),
            min=number_or_none(data.get("min")),
            max=number_or_none(data.get("max")),
        )


def perfdata_from_records(items: object) -> tuple[PerfDatum, ...]:
    """A journal record's `perfdata` list (absent in journals written before it was kept)."""
    if not isinstance(items, list):
        return ()
    return tuple(PerfDatum.from_record(item) for item in items if isinstance(item, Mapping))


def number_or_none(value: object) -> float | None:
    """A JSON record's number as a float; anything else (a bool included) is None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@frozen
class CheckResult:
    """One check of one host in a run: its value and status, why, and the command that measured it
    with its exit code and the tails of its output."""

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
    perfdata: tuple[PerfDatum, ...] = ()  # what a Nagios plugin reported beside its status


class Attempt(enum.Enum):
    """How one rung of a remediation ladder ended."""

    VERIFIED = "verified"  # ran, and the re-run check is back to a verified status
    NOT_VERIFIED = "not verified"  # ran, but the check did not recover
    FAILED = "failed"  # the remediation's own command failed
    SKIPPED = "skipped"  # not run: budget spent, cooldown, circuit breaker, escalated...
    WOULD_RUN = "would run"  # check mode: what a real run would do


@frozen
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

    @property
    def changed(self) -> bool:
        """It ran on the host (whether or not the check recovered): the recap's `changed`."""
        return self.outcome in (Attempt.VERIFIED, Attempt.NOT_VERIFIED)


@frozen
class BackupNote:
    """One backup of a host in a run: taken (with its snapshot, and whether it was verified and
    pruned), failed (`stage` take, verify or prune, and `reason`), interrupted, or skipped."""

    name: str
    store: str
    outcome: str  # core.backup_events.BackupOutcome's values
    snapshot: str | None = None
    files: int = 0
    bytes: int = 0  # content, uncompressed
    stored_bytes: int = 0
    seconds: float = 0.0
    verify: str = ""  # the verification that ran: checksum, restore ("" none)
    verified: bool | None = None  # None: not verified (not taken, or verification not run)
    pruned: int | None = None  # snapshots forgotten by `keep:`; None: retention not applied
    stage: str = ""  # where a failed backup failed
    reason: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


class StepOutcome(enum.Enum):
    """How one step ended on one host."""

    OK = "ok"  # nothing needed doing: a guard held, the probe said so, or it only waited
    CHANGED = "changed"  # it changed the host, and the verification passed
    FAILED = "failed"  # every attempt failed (the reason says the last one's)
    SKIPPED = "skipped"  # not run: an earlier step failed, the run stopped, once: true...
    WOULD_CHANGE = "would change"  # check mode: the probe says a real run would change it
    INTERRUPTED = "interrupted"  # the run's stop ended it mid-way


@frozen
class StepNote:
    """One step on one host, and what happened to it."""

    phase: str  # "task", "step" or "rollback"
    index: int  # 0-based position in its list
    name: str
    kind: str
    outcome: StepOutcome
    reason: str = ""
    attempts: int = 0  # how many times its action ran (0: a guard or the probe said ok)
    commands: tuple[str, ...] = ()  # as the journal shows them (no stdin data)
    exit_codes: tuple[int | None, ...] = ()  # of the last attempt's commands
    duration: float = 0.0
    verification: CheckResult | None = None  # the check an action re-ran to verify itself

    @property
    def changed(self) -> bool:
        return self.outcome is StepOutcome.CHANGED


class RolloutTurn(enum.Enum):
    """How a host's turn in a rollout ended: every host of a rollout ends as one of these."""

    UPDATED = "updated"  # its steps changed it, and the gate passed after them
    UNCHANGED = "unchanged"  # its steps found nothing to change, and the gate passed
    ROLLED_BACK = "rolled back"  # its steps or after-gate failed; rollback ran, gate passed
    ROLLBACK_FAILED = "rollback failed"  # ... and the rollback (or the gate after it) failed
    DEFERRED = "deferred"  # unreachable, or wait_for held it too long: finished later
    SKIPPED = "skipped"  # not started: halted, aborted, a decision needed (the reason says)


@frozen
class RolloutNote:
    """A host's turn in a rollout, as this run saw it."""

    rollout: str  # the rollout's id
    batch: int  # 1-based
    turn: RolloutTurn
    reason: str = ""


@frozen
class HostRun:
    """One host in one play of a run: how its session ended, and what it did (checks, remediations,
    steps, backups, its rollout turn)."""

    host: str
    play: str
    address: str
    outcome: Outcome
    checks: tuple[CheckResult, ...] = ()
    remediations: tuple[RemediationNote, ...] = ()
    error: str = ""
    duration: float = 0.0
    host_key: str = ""
    backups: tuple[BackupNote, ...] = ()  # taken after the checks (and remediations)
    steps: tuple[StepNote, ...] = ()  # tasks, rollout steps and rollback, in the order run
    rollout: RolloutNote | None = None  # the host's turn, in a play with `rollout:`

    def counts(self) -> Counter[Status]:
        return Counter(c.status for c in self.checks)


@frozen
class RunReport:
    """A whole run: when it started and finished, its mode, and one HostRun per host and play."""

    run_id: str
    mode: str  # "run" or "check"
    started: datetime
    finished: datetime
    hosts: tuple[HostRun, ...]
    interrupted: bool = False
    playbooks: tuple[str, ...] = field(default_factory=tuple)

    def failing_checks(self) -> list[tuple[HostRun, CheckResult]]:
        return [(h, c) for h in self.hosts for c in h.checks if c.status is not Status.OK]

    def recap(self) -> dict[str, dict[str, int]]:
        """Per host (in the order they ran), every RECAP_COLUMNS count, zeros included."""
        rows: dict[str, Counter[str]] = {}
        for run in self.hosts:
            counts = rows.setdefault(run.host, Counter())
            for status, n in run.counts().items():
                counts[status.value] += n
            if run.outcome in CUT_SHORT:
                counts[run.outcome.value] += 1
            counts["changed"] += sum(1 for n in run.remediations if n.changed)
            counts["changed"] += sum(1 for n in run.steps if n.changed)
        return {host: {c: counts[c] for c in RECAP_COLUMNS} for host, counts in rows.items()}

    @property
    def status(self) -> RunStatus:
        return run_status(self.interrupted, self.recap())
