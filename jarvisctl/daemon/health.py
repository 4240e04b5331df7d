"""Whether the daemon's configuration loads, and the last plan of each job that did.

A mistake in the YAML (a SIGHUP that cannot reload, a playbook edited into an error between two
fires) never stops the daemon nor its jobs: each job keeps running the last plan that was made
for it, and the daemon reports itself degraded (/healthz 503 with the reason, a metric) until
the files load again. Each located problem is logged once while it lasts, not at every fire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from jarvisctl.core.errors import ConfigError, JarvisError
from jarvisctl.core.frozen import frozen
from jarvisctl.daemon.logs import EventLog
from jarvisctl.plan.model import Plan

RELOAD = "reload"  # the source of a fault found by a SIGHUP (else the source is a job id)
SHOWN = 5  # problems of one fault shown by /healthz and /status (the log has all of them)


def problem_lines(error: BaseException) -> tuple[str, ...]:
    """What went wrong, one located line per problem."""
    if isinstance(error, ConfigError) and error.problems:
        return tuple(str(p) for p in error.problems)
    if isinstance(error, JarvisError):
        return (str(error),)
    # not a mistake the loader knows how to locate (an OSError from a file of the wrong type,
    # a bug): its type and message are what there is
    return (f"{type(error).__name__}: {error}",)


@frozen
class ConfigFault:
    source: str  # "reload", or the id of the job whose plan could not be made
    problems: tuple[str, ...]
    since: float  # when this source started failing (epoch seconds)

    @property
    def first(self) -> str:
        return self.problems[0] if self.problems else "(no detail)"

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "since": self.since,
            "problems": list(self.problems[:SHOWN]),
            "more_problems": max(0, len(self.problems) - SHOWN),
        }


class ConfigHealth:
    """The faults of each source, thread-safe: the job threads and the main loop write, the
    HTTP threads read."""

    def __init__(self, log: EventLog, clock: Callable[[], float] = time.time) -> None:
        self.log, self.clock = log, clock
        self._lock = threading.Lock()
        self._faults: dict[str, ConfigFault] = {}

    def failed(self, source: str, problems: Sequence[str]) -> tuple[str, ...]:
        """Record the source's problems; returns those no source had reported before (the ones
        worth a log line: an unchanged mistake is not news at every fire)."""
        with self._lock:
            known = {p for fault in self._faults.values() for p in fault.problems}
            before = self._faults.get(source)
            since = before.since if before is not None else self.clock()
            self._faults[source] = ConfigFault(source, tuple(problems), since)
        return tuple(p for p in problems if p not in known)

    def recovered(self, source: str) -> None:
        with self._lock:
            fault = self._faults.pop(source, None)
        if fault is not None:
            self.log.info("config_recovered", source=source, failing_seconds=self._age(fault))

    def recovered_all(self) -> None:
        with self._lock:
            faults, self._faults = list(self._faults.values()), {}
        for fault in faults:
            self.log.info("config_recovered", source=fault.source, failing_seconds=self._age(fault))

    def forget(self, sources: Iterable[str]) -> None:
        """Jobs that no longer exist have nothing left to recover."""
        with self._lock:
            for source in sources:
                self._faults.pop(source, None)

    def faults(self) -> tuple[ConfigFault, ...]:
        with self._lock:
            return tuple(sorted(self._faults.values(), key=lambda f: (f.since, f.source)))

    def _age(self, fault: ConfigFault) -> float:
        return round(self.clock() - fault.since, 3)


class LastGoodPlans:
    """Per job, the last plan that was made without a problem (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, Plan] = {}

    def get(self, job_id: str) -> Plan | None:
        with self._lock:
            return self._plans.get(job_id)

    def put(self, job_id: str, plan: Plan) -> None:
        with self._lock:
            self._plans[job_id] = plan

    def replace(self, plans: Mapping[str, Plan]) -> None:
        """After a load: the jobs' fresh plans; a job that is gone loses its plan."""
        with self._lock:
            self._plans = dict(plans)
