"""A frozen view of the daemon at one instant: what /status, /healthz and /metrics render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jarvisctl.daemon.health import ConfigFault
from jarvisctl.daemon.observe import HostView, JobStats


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class HttpCounts:
    """The HTTP server's own state: connections still sending their request, and what became
    of every connection so far (served, timed_out, gone, evicted, refused, ...)."""

    waiting: int = 0
    connections: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
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
    http: HttpCounts = HttpCounts()

    @property
    def uptime(self) -> float:
        return self.now - self.started

    @property
    def overdue(self) -> tuple[str, ...]:
        return tuple(j.id for j in self.jobs if j.overdue(self.now, self.misfire_grace))

    @property
    def healthy(self) -> bool:
        return self.scheduler_running and not self.overdue and not self.config_faults

    @property
    def reasons(self) -> list[str]:
        """Why the daemon is not healthy, the most telling first."""
        reasons = [] if self.scheduler_running else ["the scheduler is not running"]
        reasons += [f"job {job} is overdue" for job in self.overdue]
        for fault in self.config_faults:
            where = "reload" if fault.source == "reload" else f"job {fault.source}"
            reasons.append(
                f"configuration error ({where}; running the last good plan): {fault.first}"
            )
        return reasons

    def health_json(self) -> dict[str, Any]:
        working = self.scheduler_running and not self.overdue
        return {
            "status": "ok" if self.healthy else "degraded" if working else "unhealthy",
            "reasons": self.reasons,
            "scheduler": "running" if self.scheduler_running else "stopped",
            "jobs": len(self.jobs),
            "overdue": list(self.overdue),
            "config": {
                "ok": not self.config_faults,
                "faults": [fault.as_json() for fault in self.config_faults],
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
