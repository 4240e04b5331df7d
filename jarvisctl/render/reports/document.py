"""A run as the reports see it, rebuilt from its audit journal alone (plus earlier journals for
each check's recent history). Frozen values; every renderer reads only these."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field, replace
from typing import TYPE_CHECKING, Any

from jarvisctl.core.events import (
    BACKUP_KINDS,
    CHECK,
    CIRCUIT_OPEN,
    COMMAND,
    HOST_CONNECTED,
    HOST_FAILED,
    HOST_INTERRUPTED,
    HOST_SKIPPED,
    HOST_UNREACHABLE,
    REMEDIATION,
    RUN_FINISHED,
    RUN_STARTED,
    EventKind,
)
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import PerfDatum, perfdata_from_records, recap_totals, run_status
from jarvisctl.record.audit import Record, Verification

if TYPE_CHECKING:  # each imported by the journal of a run that has them (backups, steps, rollouts)
    from jarvisctl.render.reports.backup_entries import BackupAction, BackupEntry, BackupFold
    from jarvisctl.render.reports.rollout_entries import RolloutEntry
    from jarvisctl.render.reports.step_entries import StepEntry

# the records of a backup action from the CLI (a restore, a verification, a prune on its own)
ACTION_KINDS = BACKUP_KINDS[1:]

STATUS_ORDER = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}
OUTCOME_ORDER = {
    "failed": 0,
    "unreachable": 1,
    "interrupted": 1,
    "skipped": 2,
    "changed": 2,
    "ok": 4,
}
# sessions that ended without their checks' results, each counted in the recap under its name
CUT_SHORT = ("unreachable", "failed", "interrupted", "skipped")
# what a host's own record says about how its session ended
_ENDINGS: dict[str, str] = {
    HOST_UNREACHABLE: "unreachable",
    HOST_FAILED: "failed",
    HOST_INTERRUPTED: "interrupted",
    HOST_SKIPPED: "skipped",
}


@frozen
class Point:
    run_id: str
    at: float
    value: float | None
    status: str


@frozen
class CheckEntry:
    name: str
    kind: str
    status: str  # final: after a verified remediation, the verification's status
    initial_status: str
    value: float | None
    unit: str
    reason: str
    raw_status: str = ""  # what the thresholds alone said, before `for:` and hysteresis
    source: str = ""  # how it was measured (empty in journals written before it was kept)
    previous_status: str | None = None
    flapping: bool = False
    command: str = ""
    exit_code: int | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    digest: str | None = None
    history: tuple[Point, ...] = ()
    seconds: float | None = None  # its command's measured duration (None: not recorded)
    perfdata: tuple[PerfDatum, ...] = ()  # a Nagios plugin's, with units and ranges

    @property
    def failing(self) -> bool:
        return self.status != "ok"


@frozen
class RemediationEntry:
    check: str
    use: str
    rung: int
    outcome: str
    reason: str
    commands: tuple[str, ...]
    exit_codes: tuple[int | None, ...]
    verified_value: float | None
    verified_status: str | None
    seconds: float
    verified_perfdata: tuple[PerfDatum, ...] = ()


@frozen
class HostSection:
    host: str
    play: str
    address: str = ""
    outcome: str = "ok"
    error: str = ""
    seconds: float | None = None
    host_key: str = ""
    checks: tuple[CheckEntry, ...] = ()
    remediations: tuple[RemediationEntry, ...] = ()
    backups: tuple[BackupEntry, ...] = ()
    backup_actions: tuple[BackupAction, ...] = ()
    steps: tuple[StepEntry, ...] = ()  # tasks, rollout steps and rollback, in the order run
    # its turn in the play's rollout (rollout, batch, turn, reason), None: no turn ended
    rollout: Mapping[str, Any] | None = None

    @property
    def failing(self) -> tuple[CheckEntry, ...]:
        return tuple(c for c in self.checks if c.failing)

    @property
    def not_ok(self) -> bool:
        return bool(self.failing) or self.outcome in CUT_SHORT


@frozen
class RunDocument:
    run_id: str
    verification: Verification
    started_at: float
    announcement: Mapping[str, Any]
    hosts: tuple[HostSection, ...]
    finished_at: float | None = None
    seconds: float | None = None
    interrupted: bool = False
    recap: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    circuit_breakers: tuple[Mapping[str, Any], ...] = ()
    rollouts: tuple[RolloutEntry, ...] = ()  # per rollout: its hosts' turns counted

    @property
    def complete(self) -> bool:
        return self.verification.complete

    @property
    def status(self) -> str:
        if not self.complete:
            return "incomplete"
        return run_status(self.interrupted, self.recap).value

    @property
    def summary(self) -> dict[str, int]:
        counts = recap_totals(self.recap)
        counts["hosts"] = len({h.host for h in self.hosts})
        counts["checks"] = sum(len(h.checks) for h in self.hosts)
        return counts

    def failing(self) -> list[tuple[HostSection, CheckEntry]]:
        return [(h, c) for h in self.hosts for c in h.failing]


def value_text(check: CheckEntry | Point) -> str:
    """A check's value as every report shows it: `95%`, or `no value`."""
    if check.value is None:
        return "no value"
    unit = check.unit if isinstance(check, CheckEntry) else ""
    return f"{check.value:g}{unit}"


def perf_text(datum: PerfDatum) -> str:
    """A perfdata item as every report shows it: `label=value[uom]` and its bounds."""
    return f"{datum.label}={perf_value_text(datum)}"


def perf_value_text(datum: PerfDatum) -> str:
    """`value[uom]`, then the ranges and bounds the plugin gave: warn, crit, min, max."""
    value = "U" if datum.value is None else f"{datum.value:g}{datum.uom}"
    given = (
        f"{name} {text}"
        for name, text in (
            ("warn", datum.warn),
            ("crit", datum.crit),
            ("min", "" if datum.min is None else f"{datum.min:g}"),
            ("max", "" if datum.max is None else f"{datum.max:g}"),
        )
        if text
    )
    bounds = ", ".join(given)
    return value + (f" ({bounds})" if bounds else "")


def build_document(
    records: Iterable[Record], verification: Callable[[], Verification]
) -> RunDocument:
    """Fold the journal's records into a document as they are read (they are not all held at
    once); sections ordered failures first. `verification` is asked once they all were (a
    JournalReader's is known only then)."""
    started: Record | None = None
    sections: dict[tuple[str, str], _Section] = {}
    breakers = []
    rollouts: list[tuple[str, Mapping[str, Any]]] = []  # (play, data) of rollouts' own records
    finished: Record | None = None
    for record in records:
        if record.seq == 1 and record.kind == RUN_STARTED:
            started = record
        elif record.kind == RUN_FINISHED:
            finished = record
        elif record.kind == CIRCUIT_OPEN:
            breakers.append(dict(record.data))
        elif record.kind == EventKind.ROLLOUT and record.play is not None:
            rollouts.append((record.play, record.data))
        elif record.host is not None and record.play is None and record.kind in ACTION_KINDS:
            from jarvisctl.render.reports.backup_entries import ACTIONS_PLAY

            # a backup action from the CLI: its hosts' session is ACTIONS_PLAY
            key = (record.host, ACTIONS_PLAY)
            sections.setdefault(key, _Section(*key)).add(record)
        elif record.host is not None and record.play is not None:
            # a host's record outside any play (a lease taken over) is no session of its own
            key = (record.host, record.play)
            sections.setdefault(key, _Section(record.host, record.play)).add(record)
    hosts = [s.freeze() for s in sections.values()]
    if finished is not None:
        hosts = _with_outcomes(hosts, finished.data.get("hosts", []))
    recap = finished.data.get("recap", {}) if finished else _recap_so_far(hosts)
    verified = verification()
    return RunDocument(
        run_id=verified.run_id,
        verification=verified,
        started_at=started.at if started else 0.0,
        announcement=dict(started.data) if started else {},
        hosts=tuple(sorted(hosts, key=_host_order)),
        finished_at=finished.at if finished else None,
        seconds=finished.data.get("seconds") if finished else None,
        interrupted=bool(finished.data.get("interrupted")) if finished else False,
        recap=recap,
        circuit_breakers=tuple(breakers),
        rollouts=_rollouts(hosts, rollouts),
    )


def _rollouts(
    hosts: Sequence[HostSection], records: Sequence[tuple[str, Mapping[str, Any]]]
) -> tuple[RolloutEntry, ...]:
    """Each rollout a host took a turn of, counted, and how the run left it."""
    if all(h.rollout is None for h in hosts):
        return ()
    from jarvisctl.render.reports.rollout_entries import HostTurn, RolloutStates, rollout_entries

    states = RolloutStates()
    for play, data in records:
        states.add(play, data)
    turns = (
        HostTurn(h.play)
        if h.rollout is None
        else HostTurn(h.play, str(h.rollout["rollout"]), str(h.rollout["turn"]))
        for h in hosts
    )
    return rollout_entries(turns, states.states)


def with_history(
    document: RunDocument, points: Mapping[tuple[str, str, str], list[Point]]
) -> RunDocument:
    """Each check's recent values from earlier runs, oldest first, ending with this run's."""

    def checks(section: HostSection) -> tuple[CheckEntry, ...]:
        return tuple(
            replace(
                c,
                history=(
                    *points.get((section.host, section.play, c.name), []),
                    Point(document.run_id, document.started_at, c.value, c.status),
                ),
            )
            for c in section.checks
        )

    return replace(document, hosts=tuple(replace(h, checks=checks(h)) for h in document.hosts))


def _host_order(section: HostSection) -> tuple[int, int, str, str]:
    worst = min((STATUS_ORDER.get(c.status, 2) for c in section.checks), default=3)
    return (
        0 if section.not_ok else 1,
        min(worst, OUTCOME_ORDER.get(section.outcome, 4)),
        section.host,
        section.play,
    )


class _Section:
    """A host's records within one play, folded as they come."""

    def __init__(self, host: str, play: str) -> None:
        self.host, self.play = host, play
        self.fields: dict[str, Any] = {}
        self.checks: dict[str, CheckEntry] = {}
        self.commands: dict[str, Mapping[str, Any]] = {}
        self.remediations: list[RemediationEntry] = []
        self.backups: BackupFold | None = None  # made by the session's first backup record
        self.steps: list[StepEntry] = []
        self.first_at: float | None = None
        self.last_at = 0.0

    def add(self, record: Record) -> None:
        data = record.data
        self.first_at = record.at if self.first_at is None else self.first_at
        self.last_at = record.at
        if record.kind == HOST_CONNECTED:
            self.fields.update(
                address=str(data.get("address", "")), host_key=str(data.get("host_key") or "")
            )
        elif record.kind in _ENDINGS:
            error = data.get("reason" if record.kind == HOST_SKIPPED else "error", "")
            self.fields.update(outcome=_ENDINGS[record.kind], error=str(error))
            if "address" in data:
                self.fields["address"] = str(data["address"])
        elif record.kind == COMMAND and data.get("purpose") == "checks":
            self.commands[str(data.get("check"))] = data
        elif record.kind == CHECK:
            # a run's check record carries its command since December 2026; earlier journals,
            # and checks re-run by a gate, keep it in a `command` record before the check's
            name = str(data.get("check"))
            self.checks[name] = _check(
                data, data if "command" in data else self.commands.get(name, {})
            )
        elif record.kind == REMEDIATION:
            self._remediation(data)
        elif record.kind == EventKind.STEP:
            from jarvisctl.render.reports.step_entries import outcome_after, step_entry

            self.steps.append(step_entry(data))
            outcome = self.fields.get("outcome", "ok")
            self.fields["outcome"] = outcome_after(self.steps[-1], outcome)
        elif record.kind == EventKind.ROLLOUT_HOST:
            self.fields["rollout"] = {
                "rollout": str(data.get("rollout", "")),
                "batch": int(data.get("batch") or 1),
                "turn": str(data.get("turn", "")),
                "reason": str(data.get("reason", "")),
            }
        elif record.kind in BACKUP_KINDS:
            if self.backups is None:
                from jarvisctl.render.reports.backup_entries import BackupFold

                self.backups = BackupFold()
            failed = self.backups.add(record.kind, data)
            if failed is not None and self.fields.get("outcome", "ok") in ("ok", "changed"):
                self.fields.update(
                    outcome="failed", error=f"backup {failed.name!r}: {failed.reason}"
                )

    def _remediation(self, data: Mapping[str, Any]) -> None:
        entry = RemediationEntry(
            check=str(data.get("check", "")),
            use=str(data.get("use", "")),
            rung=int(data.get("rung") or 1),
            outcome=str(data.get("outcome", "")),
            reason=str(data.get("reason", "")),
            commands=tuple(str(c) for c in data.get("commands", [])),
            exit_codes=tuple(data.get("exit_codes", [])),
            verified_value=data.get("verified_value"),
            verified_status=data.get("verified_status"),
            seconds=float(data.get("seconds") or 0.0),
            verified_perfdata=perfdata_from_records(data.get("verified_perfdata")),
        )
        self.remediations.append(entry)
        check = self.checks.get(entry.check)
        if check is not None and entry.outcome == "verified" and entry.verified_status:
            self.checks[entry.check] = replace(
                check,
                status=entry.verified_status,
                value=entry.verified_value,
                perfdata=entry.verified_perfdata,
            )
        if (
            entry.outcome in ("verified", "not verified")
            and self.fields.get("outcome", "ok") == "ok"
        ):
            self.fields["outcome"] = "changed"
        if entry.outcome == "failed":
            self.fields["outcome"] = "failed"

    def freeze(self) -> HostSection:
        seconds = None if self.first_at is None else round(self.last_at - self.first_at, 3)
        checks = sorted(self.checks.values(), key=lambda c: STATUS_ORDER.get(c.status, 2))
        return HostSection(
            self.host,
            self.play,
            checks=tuple(checks),
            remediations=tuple(self.remediations),
            backups=tuple(self.backups.backups) if self.backups else (),
            backup_actions=tuple(self.backups.actions) if self.backups else (),
            steps=tuple(self.steps),
            seconds=seconds,
            **self.fields,
        )


def _check(data: Mapping[str, Any], command: Mapping[str, Any]) -> CheckEntry:
    status = str(data.get("status", "unknown"))
    return CheckEntry(
        name=str(data.get("check", "")),
        kind=str(data.get("kind", "")),
        status=status,
        initial_status=status,
        value=data.get("value"),
        unit=str(data.get("unit") or ""),
        reason=str(data.get("reason") or ""),
        raw_status=str(data.get("raw_status") or status),
        source=str(data.get("source") or ""),
        previous_status=data.get("previous_status"),
        flapping=bool(data.get("flapping")),
        command=str(command.get("command", "")),
        exit_code=command.get("exit_code"),
        stdout_tail=str(command.get("stdout_tail") or ""),
        stderr_tail=str(command.get("stderr_tail") or ""),
        digest=command.get("digest"),
        seconds=command.get("seconds"),
        perfdata=perfdata_from_records(data.get("perfdata")),
    )


def _with_outcomes(
    hosts: list[HostSection], outcomes: Iterable[Mapping[str, Any]]
) -> list[HostSection]:
    """The run's own word on each session: its outcome and duration (and skipped hosts)."""
    by_key = {(h.host, h.play): h for h in hosts}
    for item in outcomes:
        key = (str(item.get("host")), str(item.get("play")))
        section = by_key.get(key, HostSection(*key))
        by_key[key] = replace(
            section,
            outcome=str(item.get("outcome", section.outcome)),
            seconds=item.get("seconds", section.seconds),
            error=str(item.get("error") or section.error),
        )
    return list(by_key.values())


def _recap_so_far(hosts: Sequence[HostSection]) -> dict[str, dict[str, int]]:
    recap: dict[str, dict[str, int]] = {}
    for section in hosts:
        counts = recap.setdefault(section.host, {})
        for check in section.checks:
            counts[check.status] = counts.get(check.status, 0) + 1
        if section.outcome in CUT_SHORT:
            counts[section.outcome] = counts.get(section.outcome, 0) + 1
    return recap
