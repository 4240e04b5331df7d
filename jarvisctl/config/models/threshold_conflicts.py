"""Thresholds that contradict each other, whatever forms they are written in.

A plain number is read with the check's direction (`warn: 15` on memory_available alerts at 15
and below), a comparison (`"> 85"`) and a Nagios range (`"10:20"`, `"@10:20"`, `"~:5"`) say
where they alert themselves. Each becomes the set of values it alerts at (for `clear`: the set
it calls clear), a union of intervals, and the sets are compared:

- crit must alert only where warn alerts (plain numbers: crit is not on the good side of warn);
  `warn: 15` beside `crit: "> 85"` below would make every value above 85 critical, not warning;
- clear must not overlap the values that alert (plain numbers: clear is not past warn), and must
  hold some value that does not alert, or a check once alerting could never recover;
- warn and crit together must leave some value OK, or the check could never be OK.

Intervals are compared without their end points: a difference at one single value (crit `"> 80"`
beside warn `80`) contradicts nothing an operator would measure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from jarvisctl.config.models.values import Direction, Threshold
from jarvisctl.core.frozen import frozen

Span = tuple[float, float]  # the open interval (low, high)
EVERYTHING: tuple[Span, ...] = ((-math.inf, math.inf),)


@frozen
class Conflict:
    """A contradiction among a check's warn, crit and clear, and the keys it is blamed on."""

    message: str
    hint: str  # what would be valid
    culprits: tuple[str, ...]  # the keys to blame, the most likely first


def alert_spans(threshold: Threshold, direction: Direction) -> tuple[Span, ...]:
    """The values `threshold` alerts at (Threshold.breached), as open intervals."""
    if threshold.kind == "level":
        return _side(threshold.value, above=direction == "above")
    if threshold.kind == "compare":
        return _side(threshold.value, above=threshold.op in (">", ">="))
    if threshold.inside:
        return _nonempty([(threshold.low, threshold.high)])
    return _nonempty([(-math.inf, threshold.low), (threshold.high, math.inf)])


def clear_spans(threshold: Threshold, direction: Direction) -> tuple[Span, ...]:
    """The values `clear: threshold` calls clear (statuses.is_clear), as open intervals."""
    if threshold.kind == "level":
        return _side(threshold.value, above=direction == "below")
    if threshold.kind == "compare":
        return alert_spans(threshold, direction)  # `clear: "< 70"` says where clear is
    return minus(EVERYTHING, alert_spans(threshold, direction))


def find_conflict(chosen: Mapping[str, Threshold | None], direction: Direction) -> Conflict | None:
    """The first contradiction among a check's warn, crit and clear, or None."""
    warn, crit, clear = chosen.get("warn"), chosen.get("crit"), chosen.get("clear")
    worse = f"for this check {'higher' if direction == 'above' else 'lower'} is worse"
    alerts = {k: alert_spans(t, direction) for k, t in (("warn", warn), ("crit", crit)) if t}
    if warn is not None and crit is not None:
        beyond = minus(alerts["crit"], alerts["warn"])
        if beyond:
            return _crit_outside_warn(warn, crit, direction, beyond, worse)
    alerting = tuple(span for spans in alerts.values() for span in spans)
    quiet = minus(EVERYTHING, alerting)
    if alerts and not quiet:
        return _always_alerting(chosen, alerts)
    if clear is not None and alerts:
        return _clear_conflict(chosen, clear, alerting, quiet, direction, worse)
    return None


def _always_alerting(
    chosen: Mapping[str, Threshold | None], alerts: Mapping[str, Sequence[Span]]
) -> Conflict:
    alone = [key for key, spans in alerts.items() if not minus(EVERYTHING, spans)]
    keys = tuple(alone[:1] or alerts)
    shown = " and ".join(f"{key} {_shown(chosen[key])}" for key in keys)
    return Conflict(
        f"{shown} alert{'s' if len(keys) == 1 else ''} at every value: the check could never be OK",
        "a threshold must leave some values OK, e.g. 90, '> 90', '10:20' or '@10:20'",
        keys,
    )


def _crit_outside_warn(
    warn: Threshold,
    crit: Threshold,
    direction: Direction,
    beyond: Sequence[Span],
    worse: str,
) -> Conflict:
    if warn.kind == crit.kind == "level":  # the message plain numbers always had
        return Conflict(f"warn {warn.value:g} is past crit {crit.value:g}", worse, ("warn", "crit"))
    at = sample(beyond[0])
    return Conflict(
        f"crit {_shown(crit)} alerts where warn {_shown(warn)} does not, e.g. at {at:g}",
        f"crit must alert only where warn does ({describe(warn, direction)}), further on the "
        f"bad side; {worse}",
        ("warn", "crit") if crit.kind == "level" else ("crit", "warn"),  # the unusual form
    )


def _clear_conflict(
    chosen: Mapping[str, Threshold | None],
    clear: Threshold,
    alerting: Sequence[Span],
    quiet: Sequence[Span],
    direction: Direction,
    worse: str,
) -> Conflict | None:
    key = "warn" if chosen.get("warn") is not None else "crit"
    alert = chosen[key]
    assert alert is not None  # find_conflict calls this only with an alert threshold
    spans = clear_spans(clear, direction)
    overlap = meet(spans, alerting)
    if overlap:
        if clear.kind == alert.kind == "level":  # the message plain numbers always had
            return Conflict(
                f"clear {clear.value:g} is past {key} {alert.value:g}", worse, ("clear", key)
            )
        at = sample(overlap[0])
        return Conflict(
            f"clear {_shown(clear)} overlaps {key} {_shown(alert)}: {at:g} would be both "
            "clear and alerting",
            f"clear must hold only values where {key} ({describe(alert, direction)}) does not "
            f"alert; {worse}",
            ("clear", key),
        )
    if not meet(spans, quiet):
        return Conflict(
            f"clear {_shown(clear)} holds no value that is OK: once alerting, the check would "
            "never recover",
            f"clear must hold values where {key} ({describe(alert, direction)}) does not alert",
            ("clear",),
        )
    return None


def describe(threshold: Threshold, direction: Direction) -> str:
    """Where a threshold alerts, in words: `<= 15`, `> 85`, `outside 10..20`, `inside 10..20`."""
    if threshold.kind == "level":
        return f"{'>=' if direction == 'above' else '<='} {threshold.value:g}"
    if threshold.kind == "compare":
        return f"{threshold.op} {threshold.value:g}"
    return f"{'inside' if threshold.inside else 'outside'} {threshold.low:g}..{threshold.high:g}"


def _shown(threshold: Threshold | None) -> str:
    """A threshold as written: a plain number bare (`15`), any other form quoted (`'> 85'`)."""
    if threshold is None:
        return ""
    return f"{threshold.value:g}" if threshold.kind == "level" else repr(threshold.text)


def sample(span: Span) -> float:
    """A value well inside `span`, round where it can be."""
    low, high = span
    if math.isinf(low) and math.isinf(high):
        return 0.0
    if math.isinf(high):
        return low + 1
    if math.isinf(low):
        return high - 1
    return low + (high - low) / 2


def minus(spans: Sequence[Span], removed: Sequence[Span]) -> tuple[Span, ...]:
    """What of `spans` lies outside every span of `removed` (taken with its end points)."""
    left = list(spans)
    for cut_low, cut_high in removed:
        left = [
            part
            for low, high in left
            for part in ((low, min(high, cut_low)), (max(low, cut_high), high))
            if part[0] < part[1]
        ]
    return tuple(left)


def meet(first: Sequence[Span], second: Sequence[Span]) -> tuple[Span, ...]:
    """Where `first` and `second` overlap by more than a single value."""
    return _nonempty(
        [(max(a[0], b[0]), min(a[1], b[1])) for a in first for b in second],
    )


def _side(value: float, *, above: bool) -> tuple[Span, ...]:
    return ((value, math.inf),) if above else ((-math.inf, value),)


def _nonempty(spans: Sequence[Span]) -> tuple[Span, ...]:
    return tuple((low, high) for low, high in spans if low < high)
