"""Secrets: values that came from the environment, secret files or variables marked secret.

Rendering collects them into the front door's `SecretValues` (a CLI command's, the daemon's),
before any message that could show them is formatted; the plan carries them as a frozen set.
A `Redactor` scrubs them, in every spelling output gives them (secret_spellings), from the
streams and files every command writes (output.redacting), the audit journal's records and the
daemon's HTTP answers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field, fields, is_dataclass, replace
from typing import Any, TypeVar

from jarvisctl.core.events import Event, EventSink
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secret_spellings import search_key, spellings

MASK = "***"
MIN_LENGTH = 3  # shorter values ("1", "on") would blank out ordinary text; they are not scrubbed
# a value that starts inside a secret (an output tail cut to its last characters) has the
# secret's end masked from this many characters on: fewer tell little, and would mask by chance
PARTIAL_MIN = 6
PARTIAL_MAX = 1024
T = TypeVar("T")


class SecretValues:
    """The secret values one front door (a CLI command, the daemon) has learned so far.

    Templates add to it as they render (in any thread), before any output that could show the
    value is formatted, even when the rendering then fails; every writer redacts with
    `redactor()`, which always knows every value added so far.
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._redactor: Redactor | None = None

    def add(self, value: Any) -> None:
        new = set(_leaves(value))
        with self._lock:
            if not new <= self._values:
                self._values |= new
                self._redactor = None

    def frozen(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def redactor(self) -> Redactor:
        with self._lock:
            if self._redactor is None:
                self._redactor = Redactor(frozenset(self._values))
            return self._redactor


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


@frozen
class Redactor:
    """Scrubs secret values, in every spelling output can give them, from text and values."""

    secrets: frozenset[str] = frozenset()
    # each secret long enough to redact, with its search key; its spellings are made (once per
    # process) only when text holds the key: a thousand hosts' passwords cost nothing until shown
    _keyed: tuple[tuple[str | None, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        eligible = sorted(s for s in self.secrets if len(s.strip()) >= MIN_LENGTH)
        object.__setattr__(self, "_keyed", tuple((search_key(s), s) for s in eligible))

    @functools.cached_property
    def _ends(self) -> dict[str, tuple[str, ...]]:
        """The secrets' proper ends of PARTIAL_MIN characters or more, by their first characters.

        Made at the first structured value (`value()`), not with the redactor: a redactor is
        rebuilt at every new secret, and the streams and files only ever call `text()`."""
        ends: dict[str, set[str]] = {}
        for _, secret in self._keyed:
            # ends longer than an output tail could hold are not kept (a key's would be huge)
            for start in range(max(1, len(secret) - PARTIAL_MAX), len(secret) - PARTIAL_MIN + 1):
                end = secret[start:]
                ends.setdefault(end[:PARTIAL_MIN], set()).add(end)
        return {k: tuple(sorted(v, key=len, reverse=True)) for k, v in ends.items()}

    def text(self, value: str) -> str:
        present = [(key, s) for key, s in self._keyed if key is None or key in value]
        if not present:
            return value
        words = _words(tuple(s for _, s in present))
        if any(key is None for key, _ in present):
            return _replace_all(value, words)
        keys = {key for key, _ in present if key is not None}
        return _replace_near(value, keys, words)

    def value(self, value: T) -> T:
        """The same structure with every string scrubbed (dicts, lists, tuples, dataclasses)."""
        if not self._keyed:
            return value
        return self._scrub(value)  # type: ignore[no-any-return]

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(self._cut_start(value))
        if isinstance(value, Mapping):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        if is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self._scrub(getattr(value, f.name)) for f in fields(value) if f.init}
            return replace(value, **changes)
        return value

    def _cut_start(self, value: str) -> str:
        """A value that starts inside a secret, as the tail of a command's output can, shows
        the secret's end: mask it (structured values only: their strings start where their
        text does, while a stream's writes start anywhere)."""
        for end in self._ends.get(value[:PARTIAL_MIN], ()):
            if value.startswith(end):
                return MASK + value[len(end) :]
        return value

    def sink(self, inner: EventSink) -> EventSink:
        return RedactingSink(self, inner)

    def callback(self, inner: Callable[[T], None]) -> Callable[[T], None]:
        return lambda item: inner(self.value(item))


@frozen
class RedactingSink:
    """Scrubs each event before it reaches the sinks behind it."""

    redactor: Redactor
    inner: EventSink

    def emit(self, event: Event) -> None:
        if not self.redactor.secrets:  # nothing to scrub: the event as it is, not a copy
            self.inner.emit(event)
            return
        scrub = self.redactor.value
        payload = scrub(event.payload)  # a dataclass: every string in its fields
        self.inner.emit(
            replace(event, host=scrub(event.host), play=scrub(event.play), payload=payload)
        )


def _replace_all(text: str, words: list[str]) -> str:
    for word in words:  # longest first: no partial leftovers
        if word in text:
            text = text.replace(word, MASK)
    return text


def _replace_near(text: str, keys: set[str], words: list[str]) -> str:
    """Every spelling holds its secret's key, so only the text around the keys' occurrences is
    searched: a megabyte report costs a few small searches, not hundreds of full scans."""
    reach = len(words[0])
    spans: list[list[int]] = []
    for start in sorted(p for key in keys for p in _occurrences(text, key)):
        if spans and start - reach <= spans[-1][1]:
            spans[-1][1] = start + reach
        else:
            spans.append([max(0, start - reach), start + reach])
    pieces, done = [], 0
    for begin, end in spans:
        pieces += [text[done:begin], _replace_all(text[begin:end], words)]
        done = end
    return "".join([*pieces, text[done:]])


def _occurrences(text: str, key: str) -> list[int]:
    found, at = [], text.find(key)
    while at >= 0:
        found.append(at)
        at = text.find(key, at + 1)
    return found


# Pure functions' memos, not shared state: a daemon rebuilds its redactor at each new secret,
# and the few hundred spellings of the ones it knew are not worth computing again.
@functools.lru_cache(maxsize=4096)
def _spellings(secret: str) -> frozenset[str]:
    return spellings(secret)


@functools.lru_cache(maxsize=256)
def _words(secrets: tuple[str, ...]) -> list[str]:
    """The spellings of these secrets, longest first."""
    return sorted({w for s in secrets for w in _spellings(s)}, key=len, reverse=True)
