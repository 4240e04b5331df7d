"""The accuracy benchmark's scenario and its scoring, pure (no hosts, no jarvisctl).

A scenario is one series of values per (host, check): each time the daemon runs the check on
the host, the check consumes the series' next value (bench/alerts/accuracy.py), so what the
daemon sees, cycle by cycle, is fixed in advance whatever the timing. Each series is calm
(values well under `clear`), with events placed in it:

- a **fault**: the value sustained past a threshold for `for` + 1 to `for` + 4 cycles, in the
  warn band (81-89), the crit band (91-99) or around crit (86-94, both bands: noise around
  `crit`, always past `warn`), then repaired: back to calm for `for` + 1 cycles or more (a
  warn-band fault may first recover slowly, 1-3 cycles between `clear` and `warn`);
- a **spike**: 1 cycle past a threshold (up to `for` - 1 cycles: 2 for a `for: 3` check),
  either band, then calm;
- **straddle**: 4-8 cycles of noise around `warn` (77-79.9 and 80.1-83), never `for`
  consecutive cycles past it, then calm;
- **hover**: right after a fault's repair, 2-6 cycles between `clear` and `warn` (75.5-79.5),
  then calm: recovered, but not by much.

The ground truth is the scenario's, from these definitions alone (nothing of jarvisctl's
logic): a fault must be told by an alert of its band's severity (around crit: warning or
critical) fired within the fault's cycles, and resolved after its repair (within the fault's
cycles after its last value past `warn`); a fluctuation (spike, straddle, hover) must be told
nothing, nor must calm cycles. An alert fired during a fault with a severity its values did not
reach is false; so is one fired after the fault's alerts had all resolved (the fault told as
over, then again). An alert that replaces the fault's firing one with the other severity, as the
values move between the bands, is true (severity is a label: a new alert, by design), and the
fault's last alert must be resolved after its repair.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

FAULT = "fault"
AROUND_CRIT = "around crit"  # a fault whose values are noise around `crit` (always past warn)
LEVELS = ("warning", "critical", AROUND_CRIT)
LEVEL_WEIGHTS = (2, 2, 1)
FLUCTUATIONS = ("spike", "straddle", "hover")
TAIL = 1  # calm cycles past `for` after every event, so that each event starts from calm


@dataclass(frozen=True)
class CheckSpec:
    """A check as a shipped playbook sets it."""

    name: str
    warn: float
    crit: float
    clear: float
    for_cycles: int
    source: str

    def as_check(self, command: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "use": "command",
            "with": {"command": command, "parse": "number"},
            "warn": self.warn,
            "crit": self.crit,
            "clear": self.clear,
            "for": self.for_cycles,
        }


ROOT_DISK = CheckSpec("root disk", 80, 90, 75, 2, "playbooks/health.yml's root disk")
DATA_DISK = CheckSpec("data disk", 80, 90, 75, 3, "playbooks/jetson-health.yml's data disk")
CHECKS = (ROOT_DISK, DATA_DISK)


@dataclass(frozen=True)
class Event:
    kind: str  # fault, spike, straddle, hover
    level: str  # a fault's band: warning, critical or AROUND_CRIT ("" for fluctuations)
    start: int  # the index of its first value in the series
    end: int  # one past its last value (its calm tail included)
    above_end: int  # one past its last value at or past warn (a fault's repair starts there)

    def holds(self, index: int) -> bool:
        return self.start <= index < self.end


@dataclass(frozen=True)
class Series:
    host: str
    check: CheckSpec
    values: tuple[float, ...]
    events: tuple[Event, ...]

    def event_at(self, index: int) -> Event | None:
        return next((e for e in self.events if e.holds(index)), None)


def _calm(rng: random.Random, count: int) -> list[float]:
    return [round(rng.uniform(40, 70), 1) for _ in range(count)]


def _fault(rng: random.Random, spec: CheckSpec, level: str) -> tuple[list[float], int]:
    """A fault's values past the threshold and any slow recovery; how many are past warn."""
    length = spec.for_cycles + 1 + rng.randint(0, 3)
    if level == AROUND_CRIT:  # both bands, at least once each
        values = [round(rng.uniform(86, 94), 1) for _ in range(length)]
        while not any(v < spec.crit for v in values) or not any(v >= spec.crit for v in values):
            values = [round(rng.uniform(86, 94), 1) for _ in range(length)]
        return values, length
    low, high = (81, 89) if level == "warning" else (91, 99)
    values = [round(rng.uniform(low, high), 1) for _ in range(length)]
    if level == "warning":
        values += [round(rng.uniform(76, 79), 1) for _ in range(rng.randint(0, 3))]
    return values, length


def _spike(rng: random.Random, spec: CheckSpec) -> list[float]:
    return [round(rng.uniform(81, 99), 1) for _ in range(rng.randint(1, spec.for_cycles - 1))]


def _straddle(rng: random.Random, spec: CheckSpec) -> list[float]:
    values: list[float] = []
    run = 0  # consecutive values past warn so far
    for n in range(rng.randint(4, 8)):
        above = n == 0 or (run < spec.for_cycles - 1 and rng.random() < 0.5)
        run = run + 1 if above else 0
        values.append(round(rng.uniform(80.1, 83) if above else rng.uniform(77, 79.9), 1))
    return values


def _hover(rng: random.Random) -> list[float]:
    return [round(rng.uniform(75.5, 79.5), 1) for _ in range(rng.randint(2, 6))]


def make_series(
    rng: random.Random, host: str, spec: CheckSpec, faults: int, fluctuations: int
) -> Series:
    """A series with `faults` faults and `fluctuations` fluctuations, in random order; about a
    third of the fluctuations are hovers right after a fault (as many as there are faults)."""
    hovers = min(faults, fluctuations // 3)
    kinds = [FAULT] * faults + [
        rng.choice(("spike", "straddle")) for _ in range(fluctuations - hovers)
    ]
    rng.shuffle(kinds)
    hovering = set(rng.sample([i for i, k in enumerate(kinds) if k == FAULT], hovers))
    tail = spec.for_cycles + TAIL
    values = _calm(rng, tail + rng.randint(0, 2))
    events: list[Event] = []

    def place(kind: str, level: str, body: list[float], above: int) -> None:
        start = len(values)
        values.extend(body)
        values.extend(_calm(rng, tail + rng.randint(0, 1)))
        events.append(Event(kind, level, start, len(values), start + above))

    for index, kind in enumerate(kinds):
        if kind == FAULT:
            level = rng.choices(LEVELS, LEVEL_WEIGHTS)[0]
            body, above = _fault(rng, spec, level)
            place(FAULT, level, body, above)
            if index in hovering:
                place("hover", "", _hover(rng), 0)
        elif kind == "spike":
            body = _spike(rng, spec)
            place("spike", "", body, len(body))
        else:
            body = _straddle(rng, spec)
            place("straddle", "", body, max(i + 1 for i, v in enumerate(body) if v >= spec.warn))
    return Series(host, spec, tuple(values), tuple(events))


def make_scenario(hosts: Sequence[str], faults: int, fluctuations: int, seed: int) -> list[Series]:
    """Every host gets every check of CHECKS, each series `faults` faults and `fluctuations`
    fluctuations."""
    rng = random.Random(seed)
    return [make_series(rng, host, spec, faults, fluctuations) for host in hosts for spec in CHECKS]


# --- scoring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentAlert:
    """An alert as the receiver got it, placed in its series: the index of the value whose
    check fired it, and of the one that resolved it (None: no resolution received)."""

    host: str
    check: str
    severity: str
    fingerprint: str
    fired: int
    resolved: int | None


@dataclass
class Score:
    true_alerts: list[dict[str, Any]] = field(default_factory=list)
    false_alerts: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)
    fluctuations_told: list[dict[str, Any]] = field(default_factory=list)
    resolution_problems: list[dict[str, Any]] = field(default_factory=list)
    faults: int = 0
    fluctuations: int = 0
    resolved_ok: int = 0
    # "for N, BAND": at which cycle of its fault (1: its first) each fault's first alert fired
    fire_delays: dict[str, list[int]] = field(default_factory=dict)
    fault_kinds: dict[str, list[int]] = field(default_factory=dict)  # level: [told, faults]
    fluctuation_kinds: dict[str, list[int]] = field(default_factory=dict)  # [told, count]

    def figures(self) -> dict[str, Any]:
        sent = len(self.true_alerts) + len(self.false_alerts)
        detected = self.faults - len(self.missed)
        return {
            "faults": self.faults,
            "fluctuations": self.fluctuations,
            "alerts_sent": sent,
            "true_alerts": len(self.true_alerts),
            "false_alerts": len(self.false_alerts),
            "faults_told": detected,
            "faults_missed": len(self.missed),
            "fluctuations_told": len(self.fluctuations_told),
            "precision": round(len(self.true_alerts) / sent, 4) if sent else None,
            "recall": round(detected / self.faults, 4) if self.faults else None,
            "resolved_after_repair": self.resolved_ok,
            "resolution_problems": len(self.resolution_problems),
            "fluctuations_told_by_kind": {
                k: f"{v[0]}/{v[1]}" for k, v in sorted(self.fluctuation_kinds.items())
            },
            "faults_told_by_band": {
                k: f"{v[0]}/{v[1]}" for k, v in sorted(self.fault_kinds.items())
            },
        }


def _where(series: Series, event: Event | None) -> dict[str, Any]:
    found: dict[str, Any] = {"host": series.host, "check": series.check.name}
    if event is not None:
        found.update(
            event=event.kind,
            level=event.level,
            cycles=[event.start, event.end],
            values=list(series.values[event.start : event.end]),
        )
    return found


def score(scenario: Iterable[Series], sent: Iterable[SentAlert]) -> Score:
    """Precision and recall of the alerts sent against the scenario's ground truth."""
    result = Score()
    by_series: dict[tuple[str, str], list[SentAlert]] = {}
    for alert in sent:
        by_series.setdefault((alert.host, alert.check), []).append(alert)
    for series in scenario:
        alerts = sorted(by_series.pop((series.host, series.check.name), []), key=lambda a: a.fired)
        told: dict[int, list[SentAlert]] = {}
        for alert in alerts:
            event = series.event_at(alert.fired)
            position = series.events.index(event) if event is not None else -1
            told.setdefault(position, []).append(alert)
        for position, event in enumerate(series.events):
            _score_event(result, series, event, told.get(position, []))
        for alert in told.get(-1, []):
            result.false_alerts.append(
                {**_where(series, None), **_alert_fields(series, alert), "why": "in a calm stretch"}
            )
    for alerts in by_series.values():  # a series the scenario does not have
        for alert in alerts:
            result.false_alerts.append(
                {"host": alert.host, "check": alert.check, "why": "not a series of the scenario"}
            )
    return result


def _alert_fields(series: Series, alert: SentAlert) -> dict[str, Any]:
    value = series.values[alert.fired] if alert.fired < len(series.values) else None
    return {
        "severity": alert.severity,
        "fired_at_cycle": alert.fired,
        "value": value,
        "resolved_at_cycle": alert.resolved,
    }


def _changes_severity(before: SentAlert, alert: SentAlert) -> bool:
    """Whether `alert` replaces `before` (of the other severity, resolved at the cycle `alert`
    fired, or later): the fault's severity changed. Otherwise the fault was told as over, then
    told again."""
    still = before.resolved is None or before.resolved >= alert.fired
    return still and before.severity != alert.severity


def _score_event(result: Score, series: Series, event: Event, alerts: list[SentAlert]) -> None:
    where = _where(series, event)
    if event.kind != FAULT:
        result.fluctuations += 1
        for alert in alerts:
            result.false_alerts.append(
                {**where, **_alert_fields(series, alert), "why": f"a {event.kind}"}
            )
        counts = result.fluctuation_kinds.setdefault(event.kind, [0, 0])
        counts[1] += 1
        if alerts:
            result.fluctuations_told.append(where)
            counts[0] += 1
        return
    result.faults += 1
    allowed = {"warning", "critical"} if event.level == AROUND_CRIT else {event.level}
    true: list[SentAlert] = []
    for alert in alerts:
        fields = {**where, **_alert_fields(series, alert)}
        if alert.severity not in allowed:
            result.false_alerts.append({**fields, "why": f"not {event.level}"})
        elif true and not _changes_severity(true[-1], alert):
            result.false_alerts.append({**fields, "why": "the same fault told again"})
        else:  # the fault's first alert, or its severity changing with its values
            true.append(alert)
            result.true_alerts.append(fields)
    result.fault_kinds.setdefault(event.level, [0, 0])[1] += 1
    if not true:
        result.missed.append(where)
        return
    result.fault_kinds[event.level][0] += 1
    delays = result.fire_delays.setdefault(f"for {series.check.for_cycles}, {event.level}", [])
    delays.append(true[0].fired - event.start + 1)
    problems = [a for a in true if a.resolved is None]
    for unresolved in problems:
        why = f"its {unresolved.severity} alert's resolution never received"
        result.resolution_problems.append({**where, "why": why})
    last = true[-1]
    if last.resolved is not None and not event.above_end <= last.resolved < event.end:
        problems.append(last)
        result.resolution_problems.append(
            {**where, "why": f"resolved at cycle {last.resolved}, not after the repair"}
        )
    if not problems:
        result.resolved_ok += 1
