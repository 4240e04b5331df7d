"""APScheduler 3, set up for the daemon: a SQLite job store, one job per scheduled play
(`max_instances=1`, `coalesce=True`, a misfire grace time), and an executor that hands each job
the running daemon and its fire time.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import field
from datetime import datetime, tzinfo
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from jarvisctl.app.schedules import JOB_FUNC, Firing, JobRunner, JobSpec
from jarvisctl.core.frozen import frozen
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.observe import Observations
from jarvisctl.store.jobstore import SchedulerJobs


@frozen
class _BoundJob:
    """What APScheduler's `run_job` reads of a job, with the daemon's part bound in."""

    id: str
    func: functools.partial[Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    misfire_grace_time: float | None
    text: str

    def __str__(self) -> str:
        return self.text


def _run_bound(job: Job, run_times: Sequence[datetime], runtime: JobRunner, logger: str) -> Any:
    events: list[Any] = []
    for run_time in run_times:  # one, as jobs coalesce
        firing = Firing(runtime, job.id, run_time)
        bound = _BoundJob(
            job.id,
            functools.partial(job.func, firing),
            tuple(job.args),
            dict(job.kwargs),
            job.misfire_grace_time,
            str(job),
        )
        events += run_job(bound, job._jobstore_alias, [run_time], logger)
    return events


class DaemonExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    def __init__(self, runtime: JobRunner, workers: int) -> None:
        super().__init__(max_workers=workers, pool_kwargs={"thread_name_prefix": "job"})
        self.runtime = runtime

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        def done(future: Any) -> None:
            error = future.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(_run_bound, job, run_times, self.runtime, self._logger.name)
        future.add_done_callback(done)


class DaemonScheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's background scheduler, whose fire times are processed only while it runs,
    and whose thread outlives a faulty job store.

    APScheduler checks only for "paused" before a pass over the due jobs, and `shutdown` wakes
    its thread for one more pass: a job due then was handed to the executor being shut down
    ("Error submitting job" and a traceback at every stop with a job due, and its fire time
    spent without a run). Here a pass runs under a lock and only in the running state, and
    `hold` takes that lock: once it returns, no fire time is processed until `resume`.

    A job store that fails in the middle of a pass (APScheduler catches only the first read)
    would end the thread, and with it every schedule, while the daemon looked alive: the pass
    is retried later instead, and the store's fault shows in /healthz.
    """

    def __init__(self, log: EventLog, **options: Any) -> None:
        self._passing = threading.Lock()  # before the base's set-up, which may start nothing
        self._log = log
        self._pass_began: float | None = None
        self._last_failure: str | None = None
        super().__init__(**options)

    def _process_jobs(self) -> float | None:
        with self._passing:
            if self.state != STATE_RUNNING:
                return None  # paused: wait for `resume`; stopped: the thread's loop ends
            self._pass_began = time.monotonic()
            try:
                wait: float | None = super()._process_jobs()
            except Exception as exc:
                self._failed(f"{type(exc).__name__}: {exc}")
                return float(self.jobstore_retry_interval)
            finally:
                self._pass_began = None
            self._last_failure = None
            return wait

    def _failed(self, error: str) -> None:
        if error != self._last_failure:  # logged once while it lasts, not at every retry
            self._log.error("scheduler_pass_failed", error=error)
        self._last_failure = error

    def hold(self) -> None:
        """Pause, after the pass in progress (if any) has handed its fire times over."""
        with self._passing:
            if self.state == STATE_RUNNING:
                self.pause()

    def loop_healthy(self, stuck_after: float) -> bool:
        """Running, its thread alive, and no pass over the due jobs going on for longer than
        `stuck_after` seconds (a pass takes milliseconds; the store waits at most its lock
        timeout)."""
        thread = getattr(self, "_thread", None)
        began = self._pass_began
        return bool(
            self.state == STATE_RUNNING
            and thread is not None
            and thread.is_alive()
            and (began is None or time.monotonic() - began < stuck_after)
        )


def build_scheduler(
    runtime: JobRunner,
    store: SchedulerJobs,
    workers: int,
    grace: float,
    timezone: tzinfo,
    log: EventLog,
) -> DaemonScheduler:
    return DaemonScheduler(
        log,
        jobstores={"default": store},
        executors={"default": DaemonExecutor(runtime, workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": _whole(grace)},
        timezone=timezone,
        logger=logging.getLogger("apscheduler.scheduler"),
    )


def watch_jobs(scheduler: BackgroundScheduler, observed: Observations, log: EventLog) -> None:
    """Misses (late past the grace time, or still running from the last fire) are counted."""

    def listener(event: Any) -> None:
        if isinstance(event, JobExecutionEvent) and event.code == EVENT_JOB_ERROR:
            log.error("job_error", job=event.job_id, error=repr(event.exception))
            return
        job_id = event.job_id
        reason = "still running" if isinstance(event, JobSubmissionEvent) else "too late"
        observed.job_missed(job_id)
        log.warning("job_missed", job=job_id, reason=reason)

    scheduler.add_listener(listener, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)


@frozen
class Reconciled:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def reconcile(
    scheduler: BackgroundScheduler, specs: Sequence[JobSpec], grace: float, now: datetime
) -> Reconciled:
    """Make the store hold exactly the YAML's jobs. An unchanged job keeps its next fire time
    (a fire time missed while the daemon was down still runs once, within the grace time)."""
    result = Reconciled()
    existing = {job.id: job for job in scheduler.get_jobs()}
    for spec in specs:
        job = existing.pop(spec.id, None)
        if job is not None and _same(job, spec, grace):
            result.kept.append(spec.id)
            continue
        (result.changed if job is not None else result.added).append(spec.id)
        scheduler.add_job(
            JOB_FUNC,
            trigger=spec.trigger(scheduler.timezone, now),
            id=spec.id,
            name=spec.id,
            kwargs=spec.kwargs(),
            replace_existing=True,
            misfire_grace_time=_whole(grace),
            coalesce=True,
            max_instances=1,
        )
    for job_id in existing:
        scheduler.remove_job(job_id)
        result.removed.append(job_id)
    return result


def _same(job: Job, spec: JobSpec, grace: float) -> bool:
    return bool(
        job.func_ref == JOB_FUNC
        and dict(job.kwargs) == spec.kwargs()
        and job.misfire_grace_time == _whole(grace)
        and job.next_run_time is not None
    )


def _whole(seconds: float) -> int:
    """APScheduler takes the grace time in whole seconds."""
    return max(1, math.ceil(seconds))
