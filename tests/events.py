"""Events given by their journal records, for tests of what writes and reads journals (the
journal, the run index, the reports), which need only the keys they read. The engine's events
are typed (jarvisctl.core.events); the journal writes any payload's record as it is."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jarvisctl.core.events import (
    Check,
    Event,
    EventKind,
    HostConnected,
    HostUnreachable,
    Remediation,
    RunFinished,
)


@dataclass(frozen=True)
class Raw:
    """A payload that is its record."""

    kind: EventKind
    data: Mapping[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return dict(self.data)


def raw(
    kind: str,
    host: str | None = None,
    play: str | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    at: float | None = None,
) -> Event:
    """An event as the old untyped constructor made it: (kind, host, play, data, at)."""
    payload = Raw(EventKind(kind), dict(data or {}))
    return Event(payload, host, play, time.time() if at is None else at)


# Typed events with what a test does not care about filled in, for the sinks that read payloads
# (the daemon's observations).


def connected(host: str, play: str, address: str = "", *, at: float | None = None) -> Event:
    return _at(Event(HostConnected(address, "", None, 0.0), host, play), at)


def unreachable(
    host: str, play: str, error: str, address: str = "", *, at: float | None = None
) -> Event:
    return _at(Event(HostUnreachable(address, error), host, play), at)


def check(
    host: str,
    play: str,
    name: str,
    value: float | None,
    unit: str,
    status: str,
    perfdata: Sequence[Mapping[str, Any]] = (),
    *,
    at: float | None = None,
) -> Event:
    payload = Check(name, "command", value, unit, status, status, None, False, "", tuple(perfdata))
    return _at(Event(payload, host, play), at)


def remediation(
    host: str,
    play: str,
    name: str,
    use: str,
    outcome: str,
    *,
    verified: tuple[float | None, str | None, Sequence[Mapping[str, Any]]] = (None, None, ()),
) -> Event:
    value, status, perfdata = verified
    payload = Remediation(name, use, 1, outcome, "", (), (), value, status, tuple(perfdata), 0.0)
    return Event(payload, host, play)


def finished(
    recap: Mapping[str, Mapping[str, int]],
    hosts: Sequence[Mapping[str, Any]],
    *,
    seconds: float = 0.0,
    run_id: str = "",
) -> Event:
    return Event(RunFinished(run_id, False, seconds, recap, tuple(hosts)))


def _at(event: Event, at: float | None) -> Event:
    return event if at is None else replace(event, at=at)
