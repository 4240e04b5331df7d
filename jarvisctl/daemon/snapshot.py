"""A frozen view of the daemon at one instant: what /status, /healthz and /metrics render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import datetime
from typing import Any

from jarvisctl.core.frozen import frozen
from jarvisctl.daemon.health import RELOAD, ConfigFault
from jarvisctl.daemon.observe import HostView, JobStats
from jarvisctl.store.jobstore import StoreFault


@frozen
class JobView:
    id: str
    playbook: str
    play: str
    schedule: str
    next_fire_time: datetime | None
    stats: JobStats

    def overdue(self, now: float, grace: float) -> bool:
        """Its fire time passed more than the misfire grace time ago and it has not fired."""
        due = self.next_fire_time
        return due is not None and due.timestamp() < now - grace and not self.stats.running

    def problems(self, now: float, grace: float, store_ok: bool) -> list[str]:
        """Why this job cannot run as configured now (none when it can)."""
        found = []
        if self.overdue(now, grace):
            assert self.next_fire_time is not None
            late = round(now - self.next_fire_time.timestamp())
            found.append(f"overdue: its fire time passed {late}s ago and it has not run")
        if self.next_fire_time is None and not store_ok:
            found.append("not scheduled: the job store cannot be used (see job_store)")
        elif self.next_fire_time is None and not self.stats.running:
            found.append(f"not scheduled: its schedule ({self.schedule}) gives no next fire time")
        if self.stats.last_error is not None:
            found.append(f"its last fire made no run ({self.stats.last_outcome}): ")
            found[-1] += self.stats.last_error
        return found

    def as_json(self) -> dict[str, Any]:
        s = self.stats
        return {
            "id": self.id,
            "playbook": self.playbook,
            "play": self.play,
            "schedule": self.schedule,
            "next_fire_time": self.next_fire_time.isoformat() if self.next_fire_time else None,
            "running": s.running,
            "last_run": s.last_run,
            "last_duration": s.last_duration,
            "last_outcome": s.last_outcome,
            "runs": dict(s.runs),
            "misses": s.misses,
        }


@frozen
class HttpCounts:
    """The HTTP server's own state: connections still sending their request, and what became
    of every connection so far (served, timed_out, gone, evicted, refused, ...)."""

    waiting: int = 0
    connections: Mapping[str, int] = field(default_factory=dict)


@frozen
class Snapshot:
    now: float
    started: float
    scheduler_running: bool
    misfire_grace: float
    jobs: tuple[JobView, ...]
    hosts: tuple[HostView, ...]
    connections_open: int
    leases: tuple[dict[str, Any], ...] = ()
    config_faults: tuple[ConfigFault, ...] = ()
    store_fault: StoreFault | None = None
    http: HttpCounts = HttpCounts()

    @property
    def uptime(self) -> float:
        return self.now - self.started

    @property
    def overdue(self) -> tuple[str, ...]:
        return tuple(j.id for j in self.jobs if j.overdue(self.now, self.misfire_grace))

    @property
    def failing_jobs(self) -> dict[str, list[str]]:
        """Each job that cannot run as configured, and why: overdue, no next fire time, its
        last fire made no run (a faulty store, a bug), its files do not plan."""
        found = {
            job.id: job.problems(self.now, self.misfire_grace, self.store_fault is None)
            for job in self.jobs
        }
        for fault in self.config_faults:
            if fault.source == RELOAD:
                continue
            reasons = found.setdefault(fault.source, [])
            fallback = "" if reasons else " (it runs its last good plan)"
            reasons.insert(0, f"its files do not plan{fallback}: {fault.first}")
        return {job: reasons for job, reasons in found.items() if reasons}

    @property
    def broken(self) -> bool:
        """Work is not being done as scheduled (unhealthy), rather than from older files
        (degraded)."""
        store_ok = self.store_fault is None
        return (
            not self.scheduler_running
            or not store_ok
            or any(job.problems(self.now, self.misfire_grace, store_ok) for job in self.jobs)
        )

    @property
    def healthy(self) -> bool:
        return not self.broken and not self.config_faults

    @property
    def reasons(self) -> list[str]:
        """Why the daemon is not healthy, the most telling first."""
        reasons = [] if self.scheduler_running else ["the scheduler is not running"]
        if self.store_fault is not None:
            reasons.append(f"the job store cannot be used: {self.store_fault.error}")
        for fault in self.config_faults:
            if fault.source == RELOAD:
                reasons.append(
                    "configuration error (reload; running the last good plan): " + fault.first
                )
        reasons += [
            f"job {job}: {reason}" for job, found in self.failing_jobs.items() for reason in found
        ]
        return reasons

    def health_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "unhealthy" if self.broken else "degraded",
            "reasons": self.reasons,
            "scheduler": "running" if self.scheduler_running else "stopped",
            "jobs": len(self.jobs),
            "failing_jobs": [
                {"job": job, "reasons": found} for job, found in self.failing_jobs.items()
            ],
            "overdue": list(self.overdue),
            "config": {
                "ok": not self.config_faults,
                "faults": [fault.as_json() for fault in self.config_faults],
            },
            "job_store": {
                "ok": self.store_fault is None,
                "error": self.store_fault.error if self.store_fault else None,
                "since": self.store_fault.since if self.store_fault else None,
            },
            "uptime_seconds": round(self.uptime, 3),
        }

    def status_json(self) -> dict[str, Any]:
        return {
            **self.health_json(),
            "started": self.started,
            "connections_open": self.connections_open,
            "jobs": [j.as_json() for j in self.jobs],
            "hosts": {h.host: h.as_json() for h in self.hosts},
            "leases": list(self.leases),
        }
