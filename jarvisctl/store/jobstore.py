"""The scheduler jobs aggregate: APScheduler 3's job store (one scheduler owns it), and the
record of fire times claimed, which makes "at most once per fire time" durable across a restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from jarvisctl.core.frozen import frozen


@frozen
class StoreFault:
    """Why the job store cannot be used, and since when (epoch seconds)."""

    error: str
    since: float


class SchedulerJobs(Protocol):
    """An APScheduler job store (a BaseJobStore: the scheduler is given it as is) that also
    records the fire times claimed."""

    # the last use's fault, None once a use works again: APScheduler swallows the store's
    # errors in its own thread (and retries), so /healthz reads them here
    fault: StoreFault | None

    def claim_fire(self, job_id: str, fire_time: datetime, pid: int) -> bool:
        """True when this fire time of this job had not been claimed before (now it is)."""
        ...

    def finish_fire(self, job_id: str, fire_time: datetime, outcome: str) -> None: ...

    def fires(self) -> list[tuple[str, float, int, str | None]]:
        """(job id, fire time, pid, outcome) of every claimed fire time, oldest first."""
        ...
