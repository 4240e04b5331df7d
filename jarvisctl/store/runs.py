"""The run index aggregate: one entry per run, written when it starts and when it ends, and the
hosts it covered; `jarvisctl runs`, reports and `audit verify` read it."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import field
from typing import Protocol

from jarvisctl.core.frozen import frozen
from jarvisctl.core.processes import pid_alive


@frozen
class RunEntry:
    """One run in the index: who ran it where, its playbooks and hosts, its status and counts,
    and (once it finished) its journal's seal: its record count and last hash."""

    run_id: str
    started: float
    finished: float | None
    status: str  # as recorded: ok, not_ok, unreachable, skipped, interrupted, running
    mode: str
    source: str
    user: str
    controller: str
    pid: int
    playbooks: tuple[str, ...]
    hosts: tuple[str, ...]
    counts: Mapping[str, int] = field(default_factory=dict)
    records: int | None = None
    last_hash: str | None = None

    @property
    def shown_status(self) -> str:
        """'incomplete' for a run still marked running whose process is gone."""
        if self.status == "running" and not _alive(self.controller, self.pid):
            return "incomplete"
        return self.status

    @property
    def anchor(self) -> tuple[int, str] | None:
        """The sealed (records, last hash) of a finished run, for `audit verify`."""
        if self.records is None or self.last_hash is None:
            return None
        return self.records, self.last_hash


def _alive(controller: str, pid: int) -> bool:
    if controller != socket.gethostname():
        return True  # another controller's process: we cannot tell, so trust the index
    return pid_alive(pid)


@frozen
class RunStart:
    """What the index records when a run starts (its status is 'running')."""

    run_id: str
    started: float
    mode: str
    source: str
    user: str
    controller: str
    pid: int
    playbooks: tuple[str, ...]
    hosts: tuple[str, ...]


@frozen
class RunEnd:
    """How a run ended: its status, and its journal's sealed tail (records, last hash)."""

    status: str
    finished: float
    records: int
    last_hash: str
    counts: Mapping[str, int] | None = None  # None: a run that ended without its recap


class RunIndex(Protocol):
    def start(self, run: RunStart) -> None: ...

    def finish(self, run_id: str, end: RunEnd) -> None: ...

    def abandon(self, run_id: str, end: RunEnd) -> None:
        """End a run still marked running (its counts stay as they were)."""
        ...

    def forget(self, run_id: str) -> None:
        """Remove a run's entry (a run refused before it did anything)."""
        ...

    def newest(
        self, *, host: str | None = None, since: float | None = None, limit: int | None = None
    ) -> list[RunEntry]:
        """Newest first; `host`: the runs that covered it; `since`: started at or after."""
        ...

    def find(self, wanted: str) -> list[RunEntry]:
        """'last' (the newest run), or the run `wanted` names exactly, else up to 6 runs whose id
        starts with it, newest first."""
        ...

    def run_ids(self) -> frozenset[str]: ...
