"""What the daemon keeps between cycles, and how one job's run goes: the project (replaced on
reload), one connection pool, the stop signal, what was observed. A run is `run_playbooks`,
exactly as `jarvisctl run` calls it, with `source="daemon"`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from jarvisctl.app.notify_sink import RunNotifier
from jarvisctl.app.plan import PlanRequest, plan_playbooks
from jarvisctl.app.plan_inputs import plan_inputs
from jarvisctl.app.run import RunContext, RunRequest, plan_request, run_playbooks
from jarvisctl.app.schedules import Schedule, job_plan, playbook_files
from jarvisctl.config.project import Project
from jarvisctl.core.errors import ConfigError, JarvisError
from jarvisctl.core.results import RunReport
from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.health import ConfigHealth, LastGoodPlans, problem_lines
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.observe import Observations
from jarvisctl.daemon.rollouts import finish_deferred
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.plan.model import Plan
from jarvisctl.store.jobstore import SchedulerJobs


class DaemonRuntime:
    def __init__(
        self,
        project: Project,
        log: EventLog,
        store: SchedulerJobs,
        pool: ConnectionPool | None = None,
        run: Callable[[Project, RunRequest, RunContext], RunReport] = run_playbooks,
        secrets: SecretValues | None = None,
    ) -> None:
        self._project = project
        self._lock = threading.Lock()
        self.log, self.store, self._run = log, store, run
        self.pool = pool or ConnectionPool()
        self.secrets = secrets or SecretValues()  # the daemon's: its output redacts with them
        self.stopping = threading.Event()  # set on SIGTERM: no new run starts
        self.cancel = threading.Event()  # set once the grace time is over: runs end now
        self.observed = Observations(log)
        self.health = ConfigHealth(log)
        self.plans = LastGoodPlans()
        self._planning = threading.Lock()  # one plan of the project at a time, for every job
        self._schedule = Schedule((), None)  # the project's plan, and what it was made from
        self.started = time.time()
        # the notifications pipeline every run feeds (daemon/alerting.py); None: no notify:
        self.notifications: RunNotifier | None = None

    @property
    def project(self) -> Project:
        with self._lock:
            return self._project

    def replace_project(self, project: Project) -> None:
        with self._lock:
            self._project = project

    def use_schedule(self, schedule: Schedule) -> None:
        """The plan the jobs fire with while the files it was made from stay as they are."""
        with self._planning:
            self._schedule = schedule

    def refuses(self, job_id: str, fire_time: datetime) -> bool:
        if not (self.stopping.is_set() or self.cancel.is_set()):
            return False
        self.log.info(
            "job_not_started", job=job_id, fire_time=fire_time.isoformat(), reason="stopping"
        )
        return True

    def run_job(self, job_id: str, playbook: str, play: str, fire_time: datetime) -> str:
        fired = fire_time.isoformat()
        if self.refuses(job_id, fire_time):
            return "interrupted"
        try:
            claimed = self.store.claim_fire(job_id, fire_time, os.getpid())
        except JarvisError as exc:  # the job store is faulty: no run it cannot record
            self.observed.job_started(job_id)
            self.observed.job_finished(job_id, "error", 0.0, str(exc))
            self.log.error("job_error", job=job_id, fire_time=fired, error=str(exc))
            return "error"
        if not claimed:
            self.log.warning("job_already_fired", job=job_id, fire_time=fired)
            return "duplicate"
        self.observed.job_started(job_id)
        self.log.info("job_started", job=job_id, fire_time=fired)
        began = time.monotonic()
        outcome, run_id, error = self._run_once(job_id, playbook, play, fired)
        seconds = round(time.monotonic() - began, 3)
        self.observed.job_finished(job_id, outcome, seconds, error)
        self._finish_fire(job_id, fire_time, outcome)
        self.log.info("job_finished", job=job_id, outcome=outcome, seconds=seconds, run_id=run_id)
        return outcome

    def _finish_fire(self, job_id: str, fire_time: datetime, outcome: str) -> None:
        try:
            self.store.finish_fire(job_id, fire_time, outcome)
        except JarvisError as exc:  # the run happened; the store's fault shows in /healthz
            self.log.error("job_store_error", job=job_id, error=str(exc))

    def _run_once(self, job_id: str, playbook: str, play: str, fired: str) -> tuple[str, str, str]:
        """The outcome, the run's id, and why no run could be made (else "")."""
        request = RunRequest(
            playbooks=(Path(playbook),),
            play=play,
            source="daemon",
            arguments=("daemon", f"--job={job_id}", f"--fire-time={fired}"),
        )
        project = self.project
        planned, failed = self._with_plan(project, job_id, request)
        if planned is None:
            return failed, "", "no plan has loaded for this job (see its configuration error)"
        context = RunContext(
            events=self.observed,
            pool=self.pool,
            cancel=self.cancel,
            secrets=self.secrets,
            warn=lambda text: self.log.warning("event_sink", job=job_id, problem=text),
            notifications=self.notifications,
        )
        try:
            report = self._run(project, planned, context)
        except ConfigError as exc:
            for problem in exc.problems:
                self.log.error("job_config_error", job=job_id, problem=str(problem))
            return "config_error", "", problem_lines(exc)[0]
        except JarvisError as exc:
            self.log.error("job_error", job=job_id, error=str(exc))
            return "error", "", str(exc)
        except Exception as exc:  # a daemon outlives a bug in one run; the line says which
            error = f"{type(exc).__name__}: {exc}"
            self.log.error("job_error", job=job_id, error=error)
            return "error", "", error
        if not self.cancel.is_set() and not self.stopping.is_set():
            finish_deferred(project, report, lambda _: context, self.log)
        return outcome_of(report), report.run_id, ""

    def _with_plan(
        self, project: Project, job_id: str, request: RunRequest
    ) -> tuple[RunRequest | None, str]:
        """The request with the job's plan: made from the files now, or, when they no longer
        load, the last good one (the job keeps running, the daemon reports itself degraded).
        None (and the outcome) when there is no plan at all."""
        try:
            plan = self._plan(project, request)
        except Exception as exc:  # whatever broke in the files, the daemon and its jobs go on
            return self._last_good(job_id, request, exc)
        self.plans.put(job_id, plan)
        self.health.recovered(job_id)
        return replace(request, plan=plan), ""

    def _plan(self, project: Project, request: RunRequest) -> Plan:
        """The job's part of the project's plan while the files it was made from are
        unchanged; when they changed, the project is planned again (once, for every job);
        when they cannot be told (an inventory script), the job's playbook is planned, as a
        run would. Raises a ConfigError with the job's problems."""
        (playbook,) = request.playbooks
        with self._planning:
            try:
                files = playbook_files(project)
            except ConfigError:  # a named path gone: the job's own file may still plan
                files = []
            inputs = plan_inputs(project, files) if files else None
            schedule = self._schedule
            if inputs is not None and (inputs != schedule.inputs or schedule.plan is None):
                plan = plan_playbooks(project, PlanRequest(tuple(files)), self.secrets)
                schedule = self._schedule = replace(schedule, plan=plan, inputs=inputs)
            if inputs is not None and schedule.plan is not None:
                planned = job_plan(schedule.plan, playbook, request.play or "")
                if planned is not None:
                    return planned
        return plan_request(project, request, self.secrets)

    def _last_good(
        self, job_id: str, request: RunRequest, error: Exception
    ) -> tuple[RunRequest | None, str]:
        new = self.health.failed(job_id, problem_lines(error))
        for problem in new:
            self.log.error("job_config_error", job=job_id, problem=problem)
        plan = self.plans.get(job_id)
        if plan is None:
            return None, "config_error" if isinstance(error, JarvisError) else "error"
        if new:
            self.log.warning("job_runs_last_good_plan", job=job_id, planned=_iso(plan))
        # the audit trail says which plan ran: the files' digests are of the broken files
        arguments = (*request.arguments, f"--last-good-plan={_iso(plan)}")
        return replace(request, plan=plan, arguments=arguments), ""


def _iso(plan: Plan) -> str:
    return plan.generated_at.isoformat()


def outcome_of(report: RunReport) -> str:
    return report.status.value
