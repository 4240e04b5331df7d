"""Small value types of the language: durations and thresholds."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, PlainSerializer

Direction = Literal["above", "below"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_HINT = "a number of seconds, or e.g. 500ms, 30s, 5m, 1h30m, 2d"


def parse_duration(value: Any) -> float:
    """Seconds from `30`, `"30s"`, `"1h30m"`...; raises ValueError with the valid forms."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r} (expected {DURATION_HINT})")
    if isinstance(value, int | float):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"invalid duration {value!r} (expected {DURATION_HINT})")
        return float(value)
    text = str(value).strip().replace(" ", "")
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {value!r} (expected {DURATION_HINT})")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 90 -> '1m30s', 0.5 -> '500ms'."""
    if seconds == 0:
        return "0s"
    if seconds < 1 or seconds != int(seconds):
        return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"
    out, rest = [], int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_COMPARISON = re.compile(rf"^\s*(<=|>=|<|>)\s*({_NUMBER})\s*$")
_NAGIOS_RANGE = re.compile(rf"^(@)?(?:(~|{_NUMBER})?:)?({_NUMBER})?$")
THRESHOLD_HINT = (
    "a number, a comparison such as '< 10' or '>= 90', or a Nagios range such as '10:20', "
    "'~:5', '@10:20'"
)


@dataclass(frozen=True)
class Threshold:
    """A bound a value must not cross.

    `kind` is `level` for a plain number (its direction comes from the check definition),
    `compare` for an explicit comparison, `range` for a Nagios range (alert outside
    [low, high], or inside it when `inside` is set).
    """

    text: str
    kind: Literal["level", "compare", "range"]
    op: str = ""
    value: float = 0.0
    low: float = 0.0
    high: float = math.inf
    inside: bool = False

    def breached(self, measured: float, direction: Direction) -> bool:
        if self.kind == "level":
            return measured >= self.value if direction == "above" else measured <= self.value
        if self.kind == "compare":
            return _compare(measured, self.op, self.value)
        within = self.low <= measured <= self.high
        return within if self.inside else not within

    def __str__(self) -> str:
        return self.text


def _compare(measured: float, op: str, bound: float) -> bool:
    return {
        "<": measured < bound,
        "<=": measured <= bound,
        ">": measured > bound,
        ">=": measured >= bound,
    }[op]


def parse_threshold(value: Any) -> Threshold:
    """A Threshold from the YAML value; raises ValueError naming the valid forms."""
    if isinstance(value, Threshold):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"invalid threshold {value!r} (expected {THRESHOLD_HINT})")
    if isinstance(value, int | float):
        return Threshold(text=f"{value:g}", kind="level", value=float(value))
    text = str(value).strip()
    if re.fullmatch(_NUMBER, text):
        return Threshold(text=text, kind="level", value=float(text))
    compared = _COMPARISON.match(text)
    if compared:
        return Threshold(text=text, kind="compare", op=compared[1], value=float(compared[2]))
    return _parse_nagios_range(text)


def _parse_nagios_range(text: str) -> Threshold:
    match = _NAGIOS_RANGE.match(text.replace(" ", ""))
    if not match or ":" not in text or (match[2] is None and match[3] is None):
        raise ValueError(f"invalid threshold {text!r} (expected {THRESHOLD_HINT})")
    low_text, high_text = match[2], match[3]
    low = -math.inf if low_text == "~" else float(low_text or 0)
    high = math.inf if high_text is None else float(high_text)
    if low > high:
        raise ValueError(f"invalid Nagios range {text!r}: start {low:g} is above end {high:g}")
    return Threshold(text=text, kind="range", low=low, high=high, inside=bool(match[1]))


ThresholdValue = Annotated[
    Threshold,
    BeforeValidator(parse_threshold),
    PlainSerializer(str, return_type=str),
]
