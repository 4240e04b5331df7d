"""What the daemon has seen: hosts' reachability and checks (from the run event stream) and each
job's runs. Read by /status, /metrics and /healthz as frozen snapshots.

A host that stays unreachable is logged once when it becomes so, and once when it is back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import field, replace
from typing import Any

from jarvisctl.core.events import (
    Check,
    CircuitOpen,
    Event,
    HostConnected,
    HostFailed,
    HostInterrupted,
    HostSkipped,
    HostUnreachable,
    LeaseTakeover,
    Remediation,
    RunFinished,
)
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import PerfDatum, number_or_none, perfdata_from_records
from jarvisctl.daemon.logs import EventLog

# outcomes of a fire that made no run (the job cannot run as configured), unlike a run whose
# hosts were unreachable or not OK
FAILED_OUTCOMES = ("error", "config_error")


@frozen
class CheckReading:
    play: str
    check: str
    value: float | None
    unit: str
    status: str
    at: float
    perfdata: tuple[PerfDatum, ...] = ()


@frozen
class HostView:
    host: str
    reachable: bool
    since: float
    error: str = ""
    last_seen: float = 0.0
    checks: tuple[CheckReading, ...] = ()
    outcomes: tuple[tuple[str, str], ...] = ()  # (play, outcome) of its last session in each
    tried: bool = True  # False: only skipped so far, neither reached nor unreachable

    def as_json(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable if self.tried else None,
            "since": self.since,
            "error": self.error or None,
            "last_seen": self.last_seen,
            "checks": [
                {"play": c.play, "check": c.check, "value": c.value, "unit": c.unit}
                | {"status": c.status, "at": c.at}
                for c in self.checks
            ],
        }


@frozen
class JobStats:
    last_run: float | None = None  # when the last run started (epoch seconds)
    last_duration: float | None = None
    last_outcome: str | None = None
    runs: Mapping[str, int] = field(default_factory=dict)  # outcome -> count
    misses: int = 0
    running: bool = False
    # while the job's runs fail (outcome error or config_error: no run could be made), why the
    # last one did, and since when
    last_error: str | None = None
    failing_since: float | None = None


class Observations:
    """An event sink (thread-safe) plus job bookkeeping."""

    def __init__(self, log: EventLog, clock: Callable[[], float] = time.time) -> None:
        self.log, self.clock = log, clock
        self.kinds = _KINDS  # what the dispatcher queues to this sink (core/dispatch.py)
        self._lock = threading.Lock()
        self._hosts: dict[str, HostView] = {}
        self._checks: dict[tuple[str, str, str], CheckReading] = {}
        self._jobs: dict[str, JobStats] = {}
        self._outcomes: dict[tuple[str, str], str] = {}  # (host, play): how its session ended

    # -- the event stream --------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        handler = _HANDLERS.get(type(event.payload))
        if handler is not None:
            handler(self, event.host or "", event.play, event.payload, event.at)

    def _connected(self, host: str, play: str | None, payload: HostConnected, at: float) -> None:
        self._reachability(host, True, "", at)

    def _unreachable(
        self, host: str, play: str | None, payload: HostUnreachable, at: float
    ) -> None:
        self._reachability(host, False, payload.error, at)

    def _taken_over(self, host: str, play: str | None, payload: LeaseTakeover, at: float) -> None:
        self.log.warning("lease_takeover", host=host, **payload.record())

    def _skipped(self, host: str, play: str | None, payload: HostSkipped, at: float) -> None:
        self.log.warning("host_skipped", host=host, play=play, **payload.record())

    def _remediated(self, host: str, play: str | None, payload: Remediation, at: float) -> None:
        record = payload.record()
        fields = {k: record[k] for k in ("check", "use", "rung", "outcome", "reason")}
        self.log.info("remediation", host=host, play=play, **fields)
        self._verified(host, play or "", payload, at)

    def _breaker(self, host: str, play: str | None, payload: CircuitOpen, at: float) -> None:
        self.log.warning("circuit_open", play=play, **payload.record())

    def _failed(self, host: str, play: str | None, payload: HostFailed, at: float) -> None:
        self.log.warning("host_failed", host=host, play=play, error=payload.error)

    def _interrupted(
        self, host: str, play: str | None, payload: HostInterrupted, at: float
    ) -> None:
        self.log.warning("host_interrupted", host=host, play=play, error=payload.error)

    def _reachability(self, host: str, reachable: bool, error: str, at: float) -> None:
        with self._lock:
            before = self._hosts.get(host)
            changed = before is None or before.reachable != reachable
            since = at if before is None or changed else before.since
            seen = at if reachable else (before.last_seen if before else 0.0)
            self._hosts[host] = HostView(host, reachable, since, error, seen)
        if changed and reachable:
            self.log.info("host_reachable", host=host)
        elif changed:
            self.log.warning("host_unreachable", host=host, error=error)

    def _checked(self, host: str, play: str | None, check: Check, at: float) -> None:
        play = play or ""
        reading = CheckReading(
            play,
            check.check,
            number_or_none(check.value),
            check.unit or "",
            check.status,
            at,
            perfdata_from_records(list(check.perfdata)),
        )
        with self._lock:
            self._checks[(host, play, reading.check)] = reading

    def _verified(self, host: str, play: str, done: Remediation, at: float) -> None:
        """A verified remediation's re-run is the check's last reading, as the reports say."""
        status = done.verified_status
        if done.outcome != "verified" or not status:
            return
        check = done.check
        with self._lock:
            before = self._checks.get((host, play, check))
            if before is not None:
                self._checks[(host, play, check)] = replace(
                    before,
                    value=number_or_none(done.verified_value),
                    status=status,
                    at=at,
                    perfdata=perfdata_from_records(list(done.verified_perfdata)),
                )

    def _finished(self, host: str, play: str | None, payload: RunFinished, at: float) -> None:
        """Each session's outcome from run_finished (skipped and interrupted hosts included)."""
        for item in payload.hosts:
            key = (str(item.get("host", "")), str(item.get("play", "")))
            with self._lock:
                self._outcomes[key] = str(item.get("outcome", ""))

    # -- jobs --------------------------------------------------------------------------------

    def job_started(self, job_id: str) -> float:
        now = self.clock()
        with self._lock:
            stats = self._jobs.get(job_id, JobStats())
            self._jobs[job_id] = replace(stats, running=True, last_run=now)
        return now

    def job_finished(self, job_id: str, outcome: str, duration: float, error: str = "") -> None:
        """`error` says why a run could not be made (outcome error or config_error)."""
        with self._lock:
            stats = self._jobs.get(job_id, JobStats())
            runs = Counter(stats.runs)
            runs[outcome] += 1
            failed = outcome in FAILED_OUTCOMES
            self._jobs[job_id] = replace(
                stats,
                running=False,
                last_duration=duration,
                last_outcome=outcome,
                runs=dict(runs),
                last_error=(error or outcome) if failed else None,
                failing_since=(stats.failing_since or stats.last_run) if failed else None,
            )

    def job_missed(self, job_id: str) -> None:
        with self._lock:
            stats = self._jobs.get(job_id, JobStats())
            self._jobs[job_id] = replace(stats, misses=stats.misses + 1)

    # -- snapshots ---------------------------------------------------------------------------

    def jobs(self) -> dict[str, JobStats]:
        with self._lock:
            return dict(self._jobs)

    def hosts(self) -> tuple[HostView, ...]:
        with self._lock:
            checks: dict[str, list[CheckReading]] = {}
            for (host, _, _), reading in sorted(self._checks.items()):
                checks.setdefault(host, []).append(reading)
            outcomes: dict[str, list[tuple[str, str]]] = {}
            for (host, play), outcome in sorted(self._outcomes.items()):
                outcomes.setdefault(host, []).append((play, outcome))
            names = sorted({*self._hosts, *checks, *outcomes})
            return tuple(
                replace(
                    self._hosts.get(name, HostView(name, True, 0.0, tried=name in checks)),
                    checks=tuple(checks.get(name, ())),
                    outcomes=tuple(outcomes.get(name, ())),
                )
                for name in names
            )


# What `emit` reads, by payload class; the rest (a host's commands and batches, most of a
# cycle's events) is not even queued to the observations' sink thread.
_HANDLERS: dict[type[Any], Callable[[Observations, str, str | None, Any, float], None]] = {
    HostConnected: Observations._connected,
    HostUnreachable: Observations._unreachable,
    Check: Observations._checked,
    RunFinished: Observations._finished,
    LeaseTakeover: Observations._taken_over,
    HostSkipped: Observations._skipped,
    Remediation: Observations._remediated,
    CircuitOpen: Observations._breaker,
    HostFailed: Observations._failed,
    HostInterrupted: Observations._interrupted,
}
_KINDS = frozenset(payload.kind for payload in _HANDLERS)
