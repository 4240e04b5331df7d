"""Hysteresis, `for` and flapping as pure transitions."""

from __future__ import annotations

from typing import Any

from jarvisctl.config.models.values import parse_threshold
from jarvisctl.core.errors import Location
from jarvisctl.core.results import CheckResult, Status
from jarvisctl.engine.statuses import advance, change_share, settle
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan.model import CheckPlan
from jarvisctl.store.checks import CheckState

OK, WARN, CRIT, UNKNOWN = Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN
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


def walk(plan: CheckPlan, steps: list[tuple[Status, float | None]]) -> list[Status]:
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


def test_for_counts_each_threshold_on_its_own() -> None:
    """A disk at 89, 91, 89, 91 past warn 80 and crit 90 is past warn at every cycle: WARNING
    after `for` cycles (it was never told when `for` counted one status only)."""
    plan = check(for_cycles=2, clear=None)
    steps = [(WARN, 89), (CRIT, 91), (WARN, 89), (CRIT, 91), (CRIT, 92), (WARN, 89), (WARN, 88)]
    assert walk(plan, steps) == [OK, WARN, WARN, WARN, CRIT, CRIT, WARN]
    plan = check(for_cycles=3, clear=None)
    steps = [(CRIT, 95), (WARN, 85), (OK, 50), (CRIT, 95), (WARN, 85), (CRIT, 95)]
    assert walk(plan, steps) == [OK, OK, OK, OK, OK, WARN]


def test_for_falls_to_the_worst_of_the_cycles_below() -> None:
    plan = check(for_cycles=2, clear=None)
    steps = [(CRIT, 95), (CRIT, 95), (WARN, 85), (OK, 50), (OK, 50)]
    assert walk(plan, steps) == [OK, CRIT, CRIT, WARN, OK]


def test_unknown_needs_for_cycles_of_its_own_and_interrupts_the_others() -> None:
    plan = check(for_cycles=2, clear=None)
    steps = [(CRIT, 95), (UNKNOWN, None), (CRIT, 95), (CRIT, 95), (UNKNOWN, None)]
    assert walk(plan, steps) == [OK, OK, OK, CRIT, CRIT]
    steps = [(UNKNOWN, None), (UNKNOWN, None), (WARN, 85), (CRIT, 95), (OK, 50), (OK, 50)]
    assert walk(plan, steps) == [OK, UNKNOWN, UNKNOWN, WARN, WARN, OK]


def test_a_mixed_run_says_so_in_its_reason() -> None:
    plan = check(for_cycles=3, clear=None)
    state = advance(None, WARN, 85, plan, 0.0)
    state = advance(state, CRIT, 95, plan, 1.0)
    result = CheckResult("disk", "disk_usage", "df -P /", CRIT, 95.0, "%", "95 crossed crit >= 90")
    held = settle(result, None, state, plan)
    assert held.status is OK
    assert held.reason == (
        "critical now, worse than ok for 2 of 3 cycles before the status changes: "
        "95 crossed crit >= 90"
    )


def test_a_long_for_is_counted_past_the_flapping_window() -> None:
    plan = check(for_cycles=30, clear=None)
    assert walk(plan, [(WARN, 85)] * 30)[-2:] == [OK, WARN]


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
