"""Small value types of the language: durations and thresholds."""

from __future__ import annotations

import math
import re
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, Strict

from jarvisctl.core.errors import short_repr
from jarvisctl.core.frozen import frozen

Direction = Literal["above", "below"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_HINT = "a number of seconds, or e.g. 500ms, 30s, 5m, 1h30m, 2d"


def parse_duration(value: Any) -> float:
    """Seconds from `30`, `"30s"`, `"1h30m"`...; raises ValueError with the valid forms."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid duration {short_repr(value)} (expected {DURATION_HINT})")
    if isinstance(value, int | float):
        seconds = finite_number(value)
        if seconds is None or seconds < 0:
            raise ValueError(f"invalid duration {short_repr(value)} (expected {DURATION_HINT})")
    else:
        seconds = _duration_text(value)
    # "1" and 400 zeros is inf to float(); 1e300 seconds overflows timedelta and datetime
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {short_repr(value)} is too long (expected at most 3650d)")
    return seconds


MAX_DURATION = 3650 * 86400.0  # ten years: a datetime plus it stays far from year 9999


def _duration_text(value: str) -> float:
    text = value.strip().replace(" ", "")
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {short_repr(value)} (expected {DURATION_HINT})")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def finite_number(value: int | float | str) -> float | None:
    """The value as a float, or None when it is not a finite one: `1e400` and a 400-digit
    integer overflow to infinity (or raise), `nan` compares false with every bound."""
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


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


def _longer_than_zero(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"must be longer than 0s (expected {DURATION_HINT}, above zero)")
    return seconds


# A span that must not be zero: a time limit (0 means "give up at once", or to some tools
# "never"), a budget window (0 would count no attempt), a look-back (0 would read nothing).
PositiveDuration = Annotated[Duration, AfterValidator(_longer_than_zero)]
Timeout = PositiveDuration


MAX_COUNT = 1_000_000


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {_shown(value)}")
    if value > MAX_COUNT:  # SQLite stores at most 2**63-1; no count here needs a million
        raise ValueError(
            f"{_shown(value)} is too large (expected a whole number up to {MAX_COUNT})"
        )
    return value


def _shown(value: Any) -> str:
    text = f"{type(value).__name__} {value!r}" if isinstance(value, bool | str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# A count (cycles, attempts, workers...): YAML's `true` or `3.0` is not one. pydantic's lax mode
# would turn `true` into 1, so the check runs before it.
Count = Annotated[int, Strict(), BeforeValidator(_whole_number)]


def wants_number(annotation: Any) -> bool:
    """Whether a field's type takes a number but not a boolean (through Optional and Annotated):
    where lax validation would read YAML's `true` as 1."""
    options = _alternatives(annotation)
    return bool(options & {int, float}) and bool not in options


def _alternatives(annotation: Any) -> set[Any]:
    if get_origin(annotation) is Annotated:
        return _alternatives(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return {alt for arg in get_args(annotation) for alt in _alternatives(arg)}
    return {annotation}


def refuse_bool(value: Any) -> Any:
    """A before-validator for a number field that pydantic validates in lax mode."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got bool {value!r}")
    return value


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty (expected some text other than spaces)")
    return text


_TAG = re.compile(r"^[A-Za-z0-9_.-]+$")


def validate_tags(tags: list[str]) -> list[str]:
    """A field validator for `tags:` (of a play, a check, a backup)."""
    for tag in tags:
        if not _TAG.match(tag):
            raise ValueError(f"invalid tag {tag!r} (letters, digits, '_', '.', '-' only)")
    return tags


# A path or a name: an empty one would silently mean "the current directory" or "nothing".
NonEmptyText = Annotated[str, Strict(), AfterValidator(_not_blank)]

# a backup's (and a backup store's) name: a file name part on every store, and a label value
BACKUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
BACKUP_NAME_HINT = "a letter or digit, then letters, digits, '_', '.', '-' (e.g. app-db)"


def valid_backup_name(value: str) -> str:
    if not BACKUP_NAME.match(value):
        raise ValueError(f"invalid backup name {value!r} ({BACKUP_NAME_HINT})")
    return value


def parse_batch_size(size: Any) -> tuple[int, bool]:
    """(n, is_percent) from 3 or "25%"; raises ValueError saying what is valid."""
    hint = 'a count of hosts (1, 3) or a share of the play\'s hosts ("25%", "100%")'
    if isinstance(size, bool):
        raise ValueError(f"batch size {size!r} is not {hint}")
    if isinstance(size, int):
        if size < 1:
            raise ValueError(f"batch size {size} is not 1 or more ({hint})")
        return size, False
    if isinstance(size, str) and size.endswith("%"):
        number = size[:-1].strip()
        if number.isascii() and number.isdigit() and 1 <= int(number) <= 100:
            return int(number), True
    raise ValueError(f"batch size {size!r} is not {hint}")


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_COMPARISON = re.compile(rf"^\s*(<=|>=|<|>)\s*({_NUMBER})\s*$")
_NAGIOS_RANGE = re.compile(rf"^(@)?(?:(~|{_NUMBER})?:)?({_NUMBER})?$")
THRESHOLD_HINT = (
    "a number, a comparison such as '< 10' or '>= 90', or a Nagios range such as '10:20', "
    "'~:5', '@10:20'; for a check in seconds also a duration such as 26h"
)
_DURATION_THRESHOLD = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")


@frozen
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
    duration: bool = False  # written as a duration (26h): fits only a check measured in seconds

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
        return Threshold(text=_text(value), kind="level", value=_bound(value, value))
    if not isinstance(value, str):
        raise ValueError(f"invalid threshold {short_repr(value)} (expected {THRESHOLD_HINT})")
    text = value.strip()
    if _DURATION_THRESHOLD.fullmatch(text):  # a check measured in seconds: `crit: 26h`
        return Threshold(text=text, kind="level", value=_duration_text(text), duration=True)
    if re.fullmatch(_NUMBER, text):
        return Threshold(text=text, kind="level", value=_bound(text, text))
    compared = _COMPARISON.match(text)
    if compared:
        return Threshold(text=text, kind="compare", op=compared[1], value=_bound(compared[2], text))
    return _parse_nagios_range(text)


def _text(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) or abs(value) < 10**15 else str(value)[:40]


def _bound(number: int | float | str, given: Any) -> float:
    """A threshold's number as a finite float: one that overflows to infinity (`1e400`) or is
    not a number (`.nan`) would make the check never, or always, alert."""
    value = finite_number(number)
    if value is None:
        raise ValueError(
            f"threshold {short_repr(given)} is not a finite number "
            f"(expected a number between -1e308 and 1e308; {THRESHOLD_HINT})"
        )
    return value


def _parse_nagios_range(text: str) -> Threshold:
    match = _NAGIOS_RANGE.match(text.replace(" ", ""))
    if not match or ":" not in text or (match[2] is None and match[3] is None):
        raise ValueError(f"invalid threshold {text!r} (expected {THRESHOLD_HINT})")
    low_text, high_text = match[2], match[3]
    low = -math.inf if low_text == "~" else _bound(low_text or 0, text)
    high = math.inf if high_text is None else _bound(high_text, text)
    if low > high:
        raise ValueError(f"invalid Nagios range {text!r}: start {low:g} is above end {high:g}")
    return Threshold(text=text, kind="range", low=low, high=high, inside=bool(match[1]))


ThresholdValue = Annotated[
    Threshold,
    BeforeValidator(parse_threshold),
    PlainSerializer(str, return_type=str),
]
