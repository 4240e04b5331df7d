from __future__ import annotations

import math

import pytest

from jarvisctl.config.models.values import format_duration, parse_duration, parse_threshold


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        (30, 30.0),
        (1.5, 1.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("2d", 172800.0),
        ("1w", 604800.0),
        (" 5 m", 300.0),
    ],
)
def test_durations(given: object, seconds: float) -> None:
    assert parse_duration(given) == seconds


@pytest.mark.parametrize("given", ["5 minutes", "", "m5", "1h-2m", -1, True, math.inf])
def test_bad_durations_name_the_valid_forms(given: object) -> None:
    with pytest.raises(ValueError, match=r"invalid duration .* \(expected a number of seconds"):
        parse_duration(given)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (0.5, "500ms"), (90, "1m30s"), (3600, "1h"), (86461, "1d1m1s")]
)
def test_durations_print_back_exactly(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("threshold", "direction", "value", "breached"),
    [
        (80, "above", 80, True),
        (80, "above", 79.9, False),
        (15, "below", 15, True),
        (15, "below", 16, False),
        ("< 10", "above", 9, True),
        ("< 10", "above", 10, False),
        (">= 90", "below", 90, True),
        ("10:20", "above", 15, False),  # Nagios: alert outside [10, 20]
        ("10:20", "above", 21, True),
        ("10:20", "above", 9, True),
        ("@10:20", "above", 15, True),  # '@': alert inside
        ("~:5", "above", -100, False),
        ("~:5", "above", 6, True),
        ("10:", "above", 9, True),
        ("10:", "above", 1e9, False),
    ],
)
def test_threshold_semantics(
    threshold: object, direction: str, value: float, breached: bool
) -> None:
    assert parse_threshold(threshold).breached(value, direction) is breached  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ["abc", "20:10", ":", "<", None, True, "1:2:3"])
def test_bad_thresholds(given: object) -> None:
    with pytest.raises(ValueError, match="invalid"):
        parse_threshold(given)
