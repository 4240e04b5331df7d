"""The daemon's life: load the schedule, run, reload on SIGHUP, stop on SIGTERM; or run every
due job once and exit (`--once`, for cron)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.job import Job
from apscheduler.schedulers.base import STATE_STOPPED
from tzlocal import get_localzone

from jarvisctl.app.queries import held_leases
from jarvisctl.app.run import RunContext, RunRequest, run_playbooks
from jarvisctl.app.schedules import JobSpec, Schedule, plan_schedule
from jarvisctl.config.project import Project, load_project
from jarvisctl.core.errors import JarvisError
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import RunReport
from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.alerting import Alerting
from jarvisctl.daemon.health import RELOAD, problem_lines
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.notify import Notifier
from jarvisctl.daemon.observe import JobStats
from jarvisctl.daemon.runtime import DaemonRuntime
from jarvisctl.daemon.scheduler import build_scheduler, reconcile, watch_jobs
from jarvisctl.daemon.snapshot import JobView, Snapshot
from jarvisctl.store.base import LOCK_TIMEOUT
from jarvisctl.store.factory import open_store

TICK = 1.0  # the main loop wakes this often to notice a reload or stop request
CANCEL_WAIT = 15.0  # after cancelling, how long in-flight runs get to report and end


class Daemon:
    def __init__(
        self,
        project: Project,
        log: EventLog,
        run: Callable[[Project, RunRequest, RunContext], RunReport] = run_playbooks,
        secrets: SecretValues | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        settings = project.config.daemon
        self.notifier = notifier or Notifier()  # systemd's, when it started us (Type=notify)
        self._pinged = -math.inf  # when the last WATCHDOG=1 was sent (monotonic)
        self.log, self.grace = log, settings.misfire_grace
        # every secret the daemon's plans meet, for as long as it lives: its logs and HTTP
        # answers are redacted with them (a secret seen once stays redacted after a reload)
        self.secrets = secrets or SecretValues()
        self.store = open_store(project.state_dir).jobs
        self.runtime = DaemonRuntime(project, log, self.store, run=run, secrets=self.secrets)
        # with notify:, every run's alerts are told (a receiver that cannot be resolved: the
        # daemon does not start, as with any mistake in its files)
        self.alerting = Alerting(project, self.secrets, log)
        self.runtime.notifications = self.alerting.notifications
        self.timezone = get_localzone()
        self.scheduler = build_scheduler(
            self.runtime, self.store, settings.workers, self.grace, self.timezone, log
        )
        watch_jobs(self.scheduler, self.runtime.observed, log)
        self.specs: list[JobSpec] = []
        self.reload_requested = threading.Event()
        self.stop_requested = threading.Event()

    # -- the schedule --------------------------------------------------------------------------

    def load(self, schedule: Schedule) -> None:
        """Start the scheduler paused and make its store match the YAML."""
        self.scheduler.start(paused=True)
        self._apply(schedule)
        self.alerting.start()

    def _apply(self, schedule: Schedule) -> None:
        specs = schedule.jobs
        done = reconcile(self.scheduler, specs, self.grace, datetime.now(self.timezone))
        self.specs = list(specs)
        self.runtime.plans.replace({s.id: s.plan for s in specs if s.plan is not None})
        self.runtime.use_schedule(schedule)  # the jobs fire with their part of its plan
        self.runtime.health.forget(done.removed)
        self.log.info(
            "schedule_loaded",
            jobs=len(specs),
            added=done.added,
            changed=done.changed,
            removed=done.removed,
            kept=len(done.kept),
        )
        for job in self.scheduler.get_jobs():
            self.log.info(
                "job_scheduled",
                job=job.id,
                schedule=job.kwargs.get("schedule"),
                next_fire_time=_iso(job.next_run_time),
            )
        if not specs:
            self.log.warning("no_scheduled_plays", hint="give a play 'schedule:' to run it here")

    def reload(self) -> bool:
        """Re-read jarvisctl.yml and the playbooks; on any mistake keep the running schedule
        and the jobs' last good plans, and report the daemon degraded until a reload works."""
        current = self.runtime.project
        try:
            project = load_project(current.config_file, start=current.root)
            schedule = plan_schedule(project, secrets=self.secrets)
            self.alerting.reload(project)  # a receiver that cannot be resolved: kept as it was
        except Exception as exc:  # whatever the files do, a reload never ends the daemon
            self._reload_failed(problem_lines(exc))
            return False
        self.runtime.notifications = self.alerting.notifications
        self.alerting.start()
        if project.config.daemon != current.config.daemon:
            self.log.warning(
                "daemon_settings_changed", hint="listen, timing and workers apply at restart"
            )
        self.runtime.replace_project(project)
        self._apply(schedule)
        self.runtime.health.recovered_all()
        self.notifier.status(f"reloaded: {len(schedule.jobs)} scheduled jobs")
        return True

    def _reload_failed(self, problems: tuple[str, ...]) -> None:
        for problem in problems:
            self.log.error("reload_failed", problem=problem)
        self.runtime.health.failed(RELOAD, problems)
        self.log.warning("reload_kept_previous_schedule", jobs=len(self.specs))
        self.notifier.status(f"reload failed, kept {len(self.specs)} jobs: {problems[0]}")

    # -- running -------------------------------------------------------------------------------

    def run_until_stopped(self, ready: str = "running") -> None:
        """Run the schedule until SIGTERM; `ready` is the status systemd shows once it runs
        (READY=1 goes out only now: until `resume` the scheduler is paused, /healthz 503)."""
        self.scheduler.resume()
        self.notifier.ready(ready)
        tick = min(TICK, self.notifier.watchdog_interval or TICK)
        self._watchdog()
        while not self.stop_requested.wait(tick):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.log.info("reload_requested")
                self._reload_safely()
            self._watchdog()

    def _watchdog(self) -> None:
        """WATCHDOG=1 when it is due, only while the scheduler's loop is healthy: a daemon
        whose scheduler died or hangs is restarted by systemd after WatchdogSec."""
        interval, now = self.notifier.watchdog_interval, time.monotonic()
        if interval is None or now - self._pinged < interval:
            return
        if self.scheduler_healthy():
            self.notifier.watchdog()
            self._pinged = now
        elif self._pinged != -math.inf:  # once per outage: the pings resume when it is back
            self.log.error("watchdog_withheld", reason="the scheduler's loop is not healthy")
            self.notifier.status("unhealthy: the scheduler's loop is not running")
            self._pinged = -math.inf

    def _reload_safely(self) -> None:
        try:
            self.reload()
        except Exception as exc:  # applying the new schedule failed (its store): keep serving
            self._reload_failed(problem_lines(exc))

    def stop(self, timeout: float) -> bool:
        """No new runs; in-flight runs get `timeout` to finish, then are cancelled (their
        commands ended, their hosts reported). True when everything ended in time."""
        # no fire time is processed from here on (none is spent without a run), and a fire
        # already handed to the pool but not started yet does not start
        self.scheduler.hold()
        self.runtime.stopping.set()
        running = self._running()
        self.notifier.stopping(f"stopping: {len(running)} runs in flight")
        self.log.info("daemon_stopping", running=running, grace_seconds=timeout)
        clean = _wait_until(lambda: not self._running(), timeout)
        if not clean:
            self.log.warning("cancelling_runs", jobs=self._running())
            self.runtime.cancel.set()
            clean = _wait_until(lambda: not self._running(), CANCEL_WAIT)
        if self.scheduler.state != STATE_STOPPED:
            self.scheduler.shutdown(wait=clean)
        self.alerting.stop()  # what is due goes out for a few seconds; the rest waits
        self.runtime.pool.close_all()
        self.log.info("daemon_stopped", clean=clean)
        return clean

    def _running(self) -> list[str]:
        return sorted(j for j, s in self.runtime.observed.jobs().items() if s.running)

    def run_due_once(self) -> list[str]:
        """Every job whose fire time has come runs once (coalesced), in turn; the outcomes."""
        now = datetime.now(self.timezone)
        outcomes: list[str] = []
        for job in self.scheduler.get_jobs():
            if self.stop_requested.is_set():
                break
            fire = _latest_fire_time(job, now)
            if fire is None:
                continue
            following = job.trigger.get_next_fire_time(fire, now)
            if following is None:
                self.scheduler.remove_job(job.id)
            else:
                self.scheduler.modify_job(job.id, next_run_time=following)
            kwargs = job.kwargs
            outcomes.append(self.runtime.run_job(job.id, kwargs["playbook"], kwargs["play"], fire))
        self.log.info("once_finished", ran=len(outcomes), outcomes=outcomes)
        self.alerting.finish()
        self.scheduler.shutdown(wait=False)
        return outcomes

    # -- what the HTTP endpoints show ----------------------------------------------------------

    def snapshot(self) -> Snapshot:
        stats = self.runtime.observed.jobs()
        jobs = tuple(view(stats.get(view.id, JobStats())) for view in self._jobs())
        return Snapshot(
            now=time.time(),
            started=self.runtime.started,
            scheduler_running=self.scheduler_healthy(),
            misfire_grace=self.grace,
            jobs=jobs,
            hosts=self.runtime.observed.hosts(),
            connections_open=self.runtime.pool.open_count,
            leases=tuple(self._leases()),
            config_faults=self.runtime.health.faults(),
            store_fault=self.store.fault,
        )

    def scheduler_healthy(self) -> bool:
        """The scheduler runs and its loop is alive (what /healthz and the watchdog say)."""
        return self.scheduler.loop_healthy(stuck_after=2 * LOCK_TIMEOUT)

    def _jobs(self) -> list[_Unobserved]:
        """Every job of the YAML: as scheduled, or with no next fire time when the scheduler
        has none for it (the store's fault, or a schedule that gives none)."""
        try:
            scheduled = {job.id: _view(job) for job in self.scheduler.get_jobs()}
        except JarvisError:  # the job store's fault is in the snapshot
            scheduled = {}
        loaded = {s.id: _Unobserved(s.id, str(s.playbook), s.play, s.schedule) for s in self.specs}
        return list({**loaded, **scheduled}.values())

    def _leases(self) -> list[dict[str, Any]]:
        try:
            leases = held_leases(self.runtime.project)
        except JarvisError:
            return []
        return [
            {
                "host": lease.host,
                "owner": lease.holder.owner,
                "source": lease.holder.source,
                "pid": lease.holder.pid,
                "controller": lease.holder.controller,
                "expires": lease.expires,
            }
            for lease in leases
        ]


def start_project(config: Path | None, secrets: SecretValues) -> tuple[Project, Schedule]:
    """The project and its schedule at start: here a mistake is fatal (a located ConfigError)."""
    project = load_project(config)
    return project, plan_schedule(project, secrets=secrets)


def _latest_fire_time(job: Job, now: datetime) -> datetime | None:
    if job.next_run_time is None or job.next_run_time > now:
        return None
    times: list[datetime] = job._get_run_times(now)
    return times[-1] if times else None


@frozen
class _Unobserved:
    """A job's view but for what was observed of its runs."""

    id: str
    playbook: str
    play: str
    schedule: str
    next_fire_time: datetime | None = None

    def __call__(self, stats: JobStats) -> JobView:
        return JobView(self.id, self.playbook, self.play, self.schedule, self.next_fire_time, stats)


def _view(job: Job) -> _Unobserved:
    kwargs = job.kwargs
    return _Unobserved(
        job.id,
        str(kwargs.get("playbook", "")),
        str(kwargs.get("play", "")),
        str(kwargs.get("schedule", "")),
        job.next_run_time,
    )


def _wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None
