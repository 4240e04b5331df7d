"""Secrets: values that came from the environment, secret files or variables marked secret.

Rendering collects them (`SecretValues`); the plan carries them as a frozen set; a `Redactor`
built from that set scrubs every string written anywhere (journal, reports, console, metrics).
Because a secret can be shell-quoted into a command, its quoted spelling is scrubbed too.
"""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, TypeVar

from jarvisctl.events import Event, EventSink

MASK = "***"
MIN_LENGTH = 3  # shorter values ("1", "on") would blank out ordinary text; they are not scrubbed
T = TypeVar("T")


class SecretValues:
    """Collects secret values while templates render (rendering may happen in any thread)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: Any) -> None:
        with self._lock:
            self._values.update(_leaves(value))

    def frozen(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)


def _leaves(value: Any) -> Iterable[str]:
    """Every scalar inside a value, as the text it would render to."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


@dataclass(frozen=True)
class Redactor:
    """Scrubs a run's secret values (and their shell-quoted spellings) from text."""

    secrets: frozenset[str] = frozenset()
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spellings = {s for v in self.secrets if len(v) >= MIN_LENGTH for s in _spellings(v)}
        ordered = sorted(spellings, key=len, reverse=True)  # longest first: no partial leftovers
        pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        object.__setattr__(self, "_pattern", pattern)

    def text(self, value: str) -> str:
        return value if self._pattern is None else self._pattern.sub(MASK, value)

    def value(self, value: T) -> T:
        """The same structure with every string scrubbed (dicts, lists, tuples, dataclasses)."""
        if self._pattern is None:
            return value
        return self._scrub(value)  # type: ignore[no-any-return]

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        if is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self._scrub(getattr(value, f.name)) for f in fields(value) if f.init}
            return replace(value, **changes)
        return value

    def sink(self, inner: EventSink) -> EventSink:
        return RedactingSink(self, inner)

    def callback(self, inner: Callable[[T], None]) -> Callable[[T], None]:
        return lambda item: inner(self.value(item))


def _spellings(secret: str) -> set[str]:
    """The secret as it can appear in output: as is, shell-quoted, and JSON/repr-escaped."""
    quoted = shlex.quote(secret)
    escaped = secret.encode("unicode_escape").decode("ascii")
    return {secret, quoted, quoted.strip("'"), escaped}


@dataclass(frozen=True)
class RedactingSink:
    """Scrubs each event before it reaches the sinks behind it."""

    redactor: Redactor
    inner: EventSink

    def emit(self, event: Event) -> None:
        self.inner.emit(replace(event, data=self.redactor.value(dict(event.data))))
