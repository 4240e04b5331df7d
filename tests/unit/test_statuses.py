"""Hysteresis, `for` and flapping as pure transitions."""

from __future__ import annotations

from typing import Any

from jarvisctl.config.models.values import parse_threshold
from jarvisctl.core.errors import Location
from jarvisctl.core.results import Status
from jarvisctl.engine.statuses import advance, change_share
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan.model import CheckPlan
from jarvisctl.store.checks import CheckState

OK, WARN, CRIT = Status.OK, Status.WARNING, Status.CRITICAL
KIND = load_registry().checks["disk_usage"]


def check(for_cycles: int = 1, clear: Any = 75, direction: str = "above") -> CheckPlan:
    return CheckPlan(
        name="disk",
        use="disk_usage",
        kind="disk_usage",
        description="",
        command="df -P /",
        params=KIND.params_model(),
        unit="%",
        direction=direction,  # type: ignore[arg-type]
        warn=parse_threshold(80),
        crit=parse_threshold(90),
        clear=parse_threshold(clear) if clear is not None else None,
        for_cycles=for_cycles,
        timeout=30,
        tags=(),
        remediations=(),
        location=Location("p.yml"),
    )


def walk(plan: CheckPlan, steps: list[tuple[Status, float]]) -> list[Status]:
    state: CheckState | None = None
    seen = []
    for t, (raw, value) in enumerate(steps):
        state = advance(state, raw, value, plan, float(t))
        seen.append(state.status)
    return seen


def test_without_history_settings_the_status_follows_the_thresholds() -> None:
    plan = check(clear=None)
    assert walk(plan, [(OK, 50), (CRIT, 95), (WARN, 85), (OK, 79)]) == [OK, CRIT, WARN, OK]


def test_hysteresis_holds_warning_until_clear() -> None:
    plan = check(clear=75)
    steps = [(CRIT, 95), (OK, 79), (OK, 76), (OK, 75), (OK, 79)]
    assert walk(plan, steps) == [CRIT, WARN, WARN, OK, OK]


def test_hysteresis_for_lower_is_worse() -> None:
    plan = check(clear=20, direction="below")
    plan = CheckPlan(**{**plan.__dict__, "warn": parse_threshold(15), "crit": parse_threshold(5)})
    assert walk(plan, [(CRIT, 4), (OK, 16), (OK, 19), (OK, 20)]) == [CRIT, WARN, WARN, OK]


def test_clear_as_a_comparison_names_where_clear_is() -> None:
    plan = check(clear="< 70")
    assert walk(plan, [(CRIT, 95), (OK, 72), (OK, 69)]) == [CRIT, WARN, OK]


def test_for_needs_consecutive_cycles() -> None:
    plan = check(for_cycles=3, clear=None)
    steps = [(CRIT, 95), (CRIT, 95), (OK, 50), (CRIT, 95), (CRIT, 95), (CRIT, 95), (OK, 50)]
    assert walk(plan, steps) == [OK, OK, OK, OK, OK, CRIT, CRIT]


def test_for_applies_to_recovery_too() -> None:
    plan = check(for_cycles=2, clear=None)
    assert walk(plan, [(CRIT, 95), (CRIT, 95), (OK, 50), (OK, 50)]) == [OK, CRIT, CRIT, OK]


def test_for_counts_the_same_candidate_only() -> None:
    plan = check(for_cycles=2, clear=None)
    # WARNING then CRITICAL are different candidates: neither reaches 2 in a row
    assert walk(plan, [(WARN, 85), (CRIT, 95), (WARN, 85), (WARN, 85)]) == [OK, OK, OK, WARN]


def test_flapping_is_marked_and_cleared() -> None:
    plan = check(clear=None)
    state: CheckState | None = None
    marks = []
    for t in range(12):
        raw = CRIT if t % 2 else OK
        state = advance(state, raw, 95 if raw is CRIT else 50, plan, float(t))
        marks.append(state.flapping)
    assert marks[:4] == [False] * 4  # too few cycles to judge
    assert all(marks[4:])
    for t in range(12, 40):
        state = advance(state, OK, 50, plan, float(t))
    assert state is not None and not state.flapping
    assert change_share(state.history) == 0.0
