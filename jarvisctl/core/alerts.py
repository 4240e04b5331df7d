"""Alerts as values: labels and their fingerprint, an alert's state, matchers, silences and the
notifications an outbox holds (CONTRACT-19.md).

Modelled on Alertmanager, so that an alert jarvisctl shows and the one a real Alertmanager shows
are the same: an alert's identity is its labels, its fingerprint is Alertmanager's own, and a
matcher reads as Alertmanager's (`name="v"`, `!=`, `=~`, `!~`, regexes anchored at both ends).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field, replace
from enum import Enum
from typing import Literal

from jarvisctl.core.frozen import frozen
from jarvisctl.core.labels import LABEL_NAME, LABEL_NAME_HINT
from jarvisctl.core.regex_bounds import backtracking_hazard

MAX_REGEX = 1000  # characters of a matcher's regex: bounds what compiling one may cost


class AlertState(str, Enum):
    FIRING = "firing"
    RESOLVED = "resolved"

    def __str__(self) -> str:
        return self.value


class Severity(str, Enum):
    CRITICAL = "critical"
    WARNING = "warning"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


class Labels(Mapping[str, str]):
    """An immutable, hashable mapping of label names to values, kept sorted by name."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: tuple[tuple[str, str], ...] = tuple(sorted(dict(pairs).items()))

    def __getitem__(self, name: str) -> str:
        for key, value in self._items:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._items == other._items
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"Labels({dict(self._items)!r})"

    def value(self, name: str) -> str:
        """The label's value, or "" when it is absent (as Alertmanager reads a missing label)."""
        return self.get(name, "")

    def only(self, names: Iterable[str]) -> Labels:
        wanted = set(names)
        return Labels((k, v) for k, v in self._items if k in wanted)

    def without(self, names: Iterable[str]) -> Labels:
        unwanted = set(names)
        return Labels((k, v) for k, v in self._items if k not in unwanted)


_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (prometheus/common model.LabelsToSignature:
    FNV-1a 64 over each sorted name and value, each followed by 0xff), as `%016x`."""
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in (*part.encode(), _SEPARATOR):
                digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


MatchOp = Literal["=", "!=", "=~", "!~"]
MATCHER_HINT = (
    "NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX, the value optionally in double "
    'quotes, e.g. severity="critical" or host=~"jetson-0.*"'
)


@frozen
class Matcher:
    """One label condition; a regex must match the whole value (Alertmanager anchors it)."""

    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if not LABEL_NAME.match(self.name):
            raise ValueError(f"matcher label {self.name!r} is not {LABEL_NAME_HINT}")
        if self.op in ("=~", "!~"):
            _compiled(self.value)  # raises ValueError naming what is wrong with the regex

    def matches(self, labels: Mapping[str, str]) -> bool:
        found = labels.get(self.name, "")
        if self.op == "=":
            return found == self.value
        if self.op == "!=":
            return found != self.value
        hit = _compiled(self.value).fullmatch(found) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        quoted = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{quoted}"'


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_REGEX:
        raise ValueError(f"regex of {len(pattern)} characters is too long (at most {MAX_REGEX})")
    try:
        return re.compile(f"(?:{pattern})")
    except (re.error, RecursionError, OverflowError) as exc:
        reason = exc.msg if isinstance(exc, re.error) else "nested too deeply"
        at = f" at position {exc.pos}" if isinstance(exc, re.error) and exc.pos else ""
        raise ValueError(f"invalid regex {pattern[:80]!r}: {reason}{at}") from None


_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


def parse_matcher(text: str, *, stored: bool = False) -> Matcher:
    """`name op value`, the value bare or in double quotes (with \\" and \\\\ escapes);
    raises ValueError saying what is wrong and what would be valid. A regex that nests an
    unbounded repetition in another (`(.+)+x`) is refused: matched against a label, it could
    hold the dispatcher for minutes (a silence comes from the API, too); `stored`: read back
    from the store, as it was accepted."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f"invalid matcher {text[:80]!r} (expected {MATCHER_HINT})")
    name, op, raw = found.groups()
    matcher = Matcher(name, op, _unquoted(raw, text))  # type: ignore[arg-type]
    if not stored and op in ("=~", "!~") and (why := backtracking_hazard(matcher.value)):
        raise ValueError(f"invalid matcher {text[:80]!r}: its regex {why}")
    return matcher


def _unquoted(raw: str, text: str) -> str:
    if not raw.startswith('"'):
        if '"' in raw:
            raise ValueError(f"invalid matcher {text[:80]!r}: a quote inside an unquoted value")
        return raw
    out, index = [], 1
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            following = raw[index + 1]
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(following, "\\" + following))
            index += 2
        elif char == '"':
            if index != len(raw) - 1:
                raise ValueError(f"invalid matcher {text[:80]!r}: text after the closing quote")
            return "".join(out)
        else:
            out.append(char)
            index += 1
    raise ValueError(f"invalid matcher {text[:80]!r}: the value's closing quote is missing")


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)


@frozen
class Alert:
    """One alert: its labels (its identity), what it says, and whether it still fires."""

    labels: Labels
    annotations: Labels = field(default_factory=Labels)
    state: AlertState = AlertState.FIRING
    starts_at: float = 0.0
    ends_at: float | None = None  # when it resolved
    generator: str = ""  # a URL showing where it came from (the daemon's page of the check)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def severity(self) -> Severity | None:
        try:
            return Severity(self.labels.get("severity"))
        except ValueError:
            return None

    def resolved(self, at: float) -> Alert:
        return replace(self, state=AlertState.RESOLVED, ends_at=at)


@frozen
class Silence:
    """Alerts whose labels match every matcher are not sent between start and end."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""

    def active(self, at: float) -> bool:
        return self.starts_at <= at < self.ends_at

    def mutes(self, labels: Mapping[str, str], at: float) -> bool:
        return self.active(at) and matches_all(self.matchers, labels)


@frozen
class Notification:
    """What one receiver is told about one group of alerts; `key` is stable for its lifetime
    (stored with it, sent with every attempt) so that receivers that deduplicate can."""

    receiver: str
    group_key: str
    group_labels: Labels
    alerts: tuple[Alert, ...]
    created_at: float

    @property
    def status(self) -> AlertState:
        firing = any(alert.state is AlertState.FIRING for alert in self.alerts)
        return AlertState.FIRING if firing else AlertState.RESOLVED

    @functools.cached_property
    def key(self) -> str:
        digest = hashlib.sha256()
        for part in (self.receiver, self.group_key, repr(self.created_at)):
            digest.update(part.encode() + b"\0")
        for alert in self.alerts:
            ends = "" if alert.ends_at is None else repr(alert.ends_at)
            text = f"{alert.fingerprint}\0{alert.state}\0{alert.starts_at!r}\0{ends}\0"
            digest.update(text.encode())
        return digest.hexdigest()[:32]

    def common_labels(self) -> Labels:
        return _common(alert.labels for alert in self.alerts)

    def common_annotations(self) -> Labels:
        return _common(alert.annotations for alert in self.alerts)


def _common(sets: Iterable[Labels]) -> Labels:
    shared: dict[str, str] | None = None
    for labels in sets:
        if shared is None:
            shared = dict(labels)
        else:
            shared = {k: v for k, v in shared.items() if labels.get(k) == v}
    return Labels(shared or {})
