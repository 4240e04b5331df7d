"""bench/alerts/scenario.py: the accuracy benchmark's scenario is what its definitions say
(faults sustained past `for`, fluctuations that never are, calm in between), and its scoring
counts true and false alerts, misses and resolutions from the scenario alone."""

from __future__ import annotations

import itertools

import pytest

from bench.alerts.scenario import (
    AROUND_CRIT,
    CHECKS,
    DATA_DISK,
    ROOT_DISK,
    Event,
    SentAlert,
    Series,
    make_scenario,
    score,
)

HOSTS = [f"host{n}" for n in range(1, 11)]


def longest_run_past(values: tuple[float, ...], threshold: float) -> int:
    runs = [len(list(g)) for past, g in itertools.groupby(v >= threshold for v in values) if past]
    return max(runs, default=0)


@pytest.fixture(scope="module")
def scenario() -> list[Series]:
    return make_scenario(HOSTS, faults=6, fluctuations=6, seed=9)


def test_the_benchmark_scenario_has_the_counts_the_issue_asks(scenario: list[Series]) -> None:
    events = [e for s in scenario for e in s.events]
    assert len(scenario) == 20 and {s.host for s in scenario} == set(HOSTS)
    assert sum(e.kind == "fault" for e in events) == 120
    assert sum(e.kind != "fault" for e in events) == 120
    assert {e.kind for e in events} == {"fault", "spike", "straddle", "hover"}
    assert {e.level for e in events if e.kind == "fault"} == {"warning", "critical", AROUND_CRIT}
    assert {s.check for s in scenario} == set(CHECKS)
    assert (ROOT_DISK.for_cycles, DATA_DISK.for_cycles) == (2, 3)


def test_each_event_is_what_its_kind_says(scenario: list[Series]) -> None:
    for series in scenario:
        spec = series.check
        for event in series.events:
            body = series.values[event.start : event.end]
            past = series.values[event.start : event.above_end]
            after = series.values[event.above_end : event.end]
            tail = series.values[event.end - spec.for_cycles - 1 : event.end]
            assert all(v <= 70 for v in tail), (series.host, event)  # ends calm
            if event.kind == "fault":
                assert len(past) > spec.for_cycles  # sustained longer than `for`
                bands = {"warning": (80, 90), "critical": (90, 100), AROUND_CRIT: (85, 95)}
                low, high = bands[event.level]
                assert all(low < v < high for v in past), (series.host, event)
                if event.level == AROUND_CRIT:
                    assert min(past) < spec.crit <= max(past)
                assert all(v < spec.warn for v in after)
            elif event.kind == "hover":
                assert series.values[event.start - 1] <= spec.clear  # after a recovery
                hovering = list(itertools.takewhile(lambda v: v > 70, body))
                assert len(hovering) >= 2
                assert all(spec.clear < v < spec.warn for v in hovering)
                assert all(v <= 70 for v in body[len(hovering) :])
            else:
                assert 0 < longest_run_past(body, spec.warn) < spec.for_cycles
        inside = {i for e in series.events for i in range(e.start, e.end)}
        calm = [v for i, v in enumerate(series.values) if i not in inside]
        assert calm and all(v < spec.clear for v in calm)


def test_the_same_seed_makes_the_same_scenario() -> None:
    assert make_scenario(HOSTS[:2], 2, 3, 5) == make_scenario(HOSTS[:2], 2, 3, 5)
    assert make_scenario(HOSTS[:2], 2, 3, 5) != make_scenario(HOSTS[:2], 2, 3, 6)


SERIES = Series(
    "h1",
    ROOT_DISK,
    (50, 85, 86, 87, 50, 50, 50, 95, 50, 50, 50, 50),
    (Event("fault", "warning", 1, 7, 4), Event("spike", "", 7, 10, 8)),
)


def alert(fired: int, resolved: int | None, severity: str = "warning") -> SentAlert:
    return SentAlert("h1", "root disk", severity, f"fp{fired}", fired, resolved)


def test_right_alerts_score_full_precision_and_recall() -> None:
    result = score([SERIES], [alert(2, 5)])
    figures = result.figures()
    assert figures["precision"] == 1.0 and figures["recall"] == 1.0
    assert (figures["faults"], figures["fluctuations"], figures["resolved_after_repair"]) == (
        1,
        1,
        1,
    )
    assert result.fire_delays == {"for 2, warning": [2]}  # at the fault's second cycle


def test_wrong_alerts_are_false_and_missing_ones_missed() -> None:
    result = score([SERIES], [alert(7, 8, "critical"), alert(10, 11), alert(2, 3, "critical")])
    whys = sorted(a["why"] for a in result.false_alerts)
    assert whys == ["a spike", "in a calm stretch", "not warning"]
    assert result.figures()["precision"] == 0.0 and result.figures()["recall"] == 0.0
    assert result.missed[0]["values"] == [85, 86, 87, 50, 50, 50]
    assert result.fluctuations_told[0]["event"] == "spike"


def test_a_second_alert_for_one_fault_and_bad_resolutions_are_counted() -> None:
    result = score([SERIES], [alert(2, 3), alert(3, None)])
    assert [a["why"] for a in result.false_alerts] == ["the same fault told again"]
    assert result.resolution_problems[0]["why"] == "resolved at cycle 3, not after the repair"
    assert score([SERIES], [alert(2, None)]).resolution_problems[0]["why"] == (
        "its warning alert's resolution never received"
    )
    assert score([SERIES], [SentAlert("h9", "x", "warning", "f", 1, 2)]).false_alerts


AROUND = Series(
    "h1",
    DATA_DISK,
    (50, 91, 92, 93, 88, 87, 86, 50, 50, 50, 50),
    (Event("fault", AROUND_CRIT, 1, 11, 7),),
)


def test_a_fault_around_crit_is_told_in_the_severities_its_values_move_through() -> None:
    critical = SentAlert("h1", "data disk", "critical", "c", 3, 6)
    warning = SentAlert("h1", "data disk", "warning", "w", 6, 9)
    result = score([AROUND], [critical, warning])
    assert result.figures()["precision"] == 1.0 and result.figures()["recall"] == 1.0
    assert result.resolved_ok == 1 and result.fire_delays == {"for 3, around crit": [3]}
    # warning, critical, warning again as the values move between the bands: all true
    back = SentAlert("h1", "data disk", "warning", "w", 4, 6)
    changed = SentAlert("h1", "data disk", "critical", "c", 3, 4)
    result = score([AROUND], [changed, back, SentAlert("h1", "data disk", "critical", "c", 6, 8)])
    assert result.false_alerts == [] and result.resolved_ok == 1
    # told as over (resolved at cycle 4), then again at cycle 6: false
    again = SentAlert("h1", "data disk", "critical", "c", 6, 8)
    result = score([AROUND], [changed, again])
    assert [a["why"] for a in result.false_alerts] == ["the same fault told again"]
    assert result.figures()["faults_told_by_band"] == {AROUND_CRIT: "1/1"}
