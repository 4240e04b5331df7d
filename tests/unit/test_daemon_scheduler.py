"""The daemon's scheduling: the SQLite job store, reconciling with the YAML, once per fire time,
--once, reload keeping the schedule on a mistake, and the job runs' outcomes. Runs are faked;
the real run path is covered by test_leases and the end-to-end tests."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jarvisctl.app.run import RunContext, RunRequest
from jarvisctl.app.schedules import plan_schedule
from jarvisctl.config.project import Project, load_project
from jarvisctl.core.errors import ConfigError, Location, Problem, StoreError
from jarvisctl.core.results import HostRun, Outcome, RunReport
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.service import Daemon

PLAY = """\
- name: {name}
  hosts: all
  schedule: {schedule}
  checks:
    - use: uptime
"""


@dataclass
class FakeRun:
    """Stands in for run_playbooks: records the requests, returns a chosen outcome."""

    outcome: Outcome = Outcome.OK
    error: Exception | None = None
    seconds: float = 0.0
    requests: list[RunRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, project: Project, request: RunRequest, context: RunContext) -> RunReport:
        with self.lock:
            self.requests.append(request)
        if self.error is not None:
            raise self.error
        time.sleep(self.seconds)
        now = datetime.now(timezone.utc)
        host = HostRun("localhost", request.play or "", "local", self.outcome)
        return RunReport("run-1", "run", now, now, (host,))


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    (tmp_path / "playbooks").mkdir()
    write_play(tmp_path, "tick", "{every: 1s}")
    (tmp_path / "jarvisctl.yml").write_text(
        "playbooks: [playbooks]\ndaemon: {misfire_grace: 30s}\n"
    )
    return tmp_path


def write_play(root: Path, name: str, schedule: str, file: str = "site.yml") -> None:
    (root / "playbooks" / file).write_text(PLAY.format(name=name, schedule=schedule))


@dataclass
class Harness:
    daemon: Daemon
    run: FakeRun
    lines: io.StringIO

    def events(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines.getvalue().splitlines()]

    def named(self, event: str) -> list[dict[str, object]]:
        return [e for e in self.events() if e["event"] == event]

    def fire(self, when: datetime) -> str:
        """Run the project's job for this fire time, as the scheduler would."""
        (job,) = self.daemon.specs
        return self.daemon.runtime.run_job(job.id, str(job.playbook), job.play, when)


MakeHarness = Callable[[], Harness]


@pytest.fixture
def harness(project_dir: Path) -> Iterator[MakeHarness]:
    made: list[Harness] = []

    def make() -> Harness:
        lines = io.StringIO()
        run = FakeRun()
        project = load_project(project_dir / "jarvisctl.yml")
        daemon = Daemon(project, EventLog(lines, "json"), run=run)
        daemon.load(plan_schedule(project, secrets=daemon.secrets))
        made.append(Harness(daemon, run, lines))
        return made[-1]

    yield make
    for item in made:
        if item.daemon.scheduler.running:
            item.daemon.scheduler.shutdown(wait=False)


def test_a_job_per_scheduled_play_persisted_in_sqlite(
    harness: MakeHarness, project_dir: Path
) -> None:
    h = harness()
    (job,) = h.daemon.scheduler.get_jobs()
    assert job.id == "playbooks/site.yml::tick"
    assert job.func_ref == "jarvisctl.app.schedules:run_play"
    assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 30)
    assert job.kwargs == {
        "playbook": str((project_dir / "playbooks" / "site.yml").resolve()),
        "play": "tick",
        "schedule": "every 1s",
    }
    assert (project_dir / ".jarvisctl" / "scheduler.db").is_file()


def test_an_unchanged_job_keeps_its_fire_time_across_restarts(harness: MakeHarness) -> None:
    first = harness()
    due = first.daemon.scheduler.get_jobs()[0].next_run_time
    first.daemon.scheduler.shutdown(wait=False)
    second = harness()
    assert second.daemon.scheduler.get_jobs()[0].next_run_time == due
    (loaded,) = second.named("schedule_loaded")
    assert loaded["kept"] == 1 and loaded["added"] == []


def test_reload_replaces_changed_added_and_removed_jobs(
    harness: MakeHarness, project_dir: Path
) -> None:
    h = harness()
    write_play(project_dir, "tick", "{every: 1h}")
    write_play(project_dir, "nightly", '"0 3 * * *"', file="night.yml")
    assert h.daemon.reload()
    jobs = {j.id: j.kwargs["schedule"] for j in h.daemon.scheduler.get_jobs()}
    assert jobs == {
        "playbooks/site.yml::tick": "every 1h",
        "playbooks/night.yml::nightly": "cron '0 3 * * *'",
    }
    (project_dir / "playbooks" / "night.yml").unlink()
    assert h.daemon.reload()
    assert [j.id for j in h.daemon.scheduler.get_jobs()] == ["playbooks/site.yml::tick"]
    assert h.named("schedule_loaded")[-1]["removed"] == ["playbooks/night.yml::nightly"]


def test_a_broken_file_on_reload_keeps_the_schedule_and_logs_where(
    harness: MakeHarness, project_dir: Path
) -> None:
    h = harness()
    before = [(j.id, j.next_run_time) for j in h.daemon.scheduler.get_jobs()]
    write_play(project_dir, "tick", "{every: soon}")
    assert not h.daemon.reload()
    assert [(j.id, j.next_run_time) for j in h.daemon.scheduler.get_jobs()] == before
    problems = [str(e["problem"]) for e in h.named("reload_failed")]
    assert any("playbooks/site.yml:3:21: 'every': invalid duration 'soon'" in p for p in problems)
    assert h.named("reload_kept_previous_schedule")


def test_scheduled_runs_go_through_run_playbooks_as_the_daemon(harness: MakeHarness) -> None:
    h = harness()
    h.daemon.scheduler.resume()
    deadline = time.monotonic() + 10
    while len(h.run.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    request = h.run.requests[0]
    assert request.source == "daemon" and request.play == "tick"
    assert request.arguments[1] == "--job=playbooks/site.yml::tick"
    finished = h.named("job_finished")
    assert finished and finished[0]["outcome"] == "ok"
    stats = h.daemon.runtime.observed.jobs()["playbooks/site.yml::tick"]
    assert stats.runs["ok"] >= 1 and stats.last_duration is not None


def test_one_fire_time_runs_at_most_once(harness: MakeHarness) -> None:
    h = harness()
    when = datetime(2026, 11, 24, 4, 0, tzinfo=timezone.utc)
    assert h.fire(when) == "ok"
    assert h.fire(when) == "duplicate"
    assert len(h.run.requests) == 1
    job = "playbooks/site.yml::tick"
    assert h.daemon.store.fires() == [(job, when.timestamp(), h.daemon.store.fires()[0][2], "ok")]


@pytest.mark.parametrize(
    ("outcome", "error", "expected"),
    [
        (Outcome.UNREACHABLE, None, "unreachable"),
        (Outcome.FAILED, None, "not_ok"),
        (Outcome.OK, ConfigError(Problem(Location("p.yml", 3, 5), "bad")), "config_error"),
        (Outcome.OK, RuntimeError("boom"), "error"),
    ],
)
def test_run_outcomes(
    harness: MakeHarness, outcome: Outcome, error: Exception | None, expected: str
) -> None:
    h = harness()
    h.run.outcome, h.run.error = outcome, error
    assert h.fire(datetime.now(timezone.utc)) == expected
    if expected == "config_error":
        assert h.named("job_config_error")[0]["problem"] == "p.yml:3:5: bad"
    if expected == "error":
        assert h.named("job_error")[0]["error"] == "RuntimeError: boom"


def test_once_runs_every_due_job_once_and_moves_it_on(harness: MakeHarness) -> None:
    h = harness()
    job = h.daemon.scheduler.get_jobs()[0]
    h.daemon.scheduler.modify_job(job.id, next_run_time=job.next_run_time - timedelta(seconds=5))
    assert h.daemon.run_due_once() == ["ok"]
    assert len(h.run.requests) == 1
    again = harness()
    assert again.daemon.run_due_once() == []
    (job,) = again.daemon.store.get_all_jobs()
    assert job.next_run_time > datetime.now(timezone.utc)


def test_stop_lets_a_run_finish_then_cancels_a_slow_one(harness: MakeHarness) -> None:
    h = harness()
    h.run.seconds = 1.5
    h.daemon.scheduler.resume()
    deadline = time.monotonic() + 10
    while not h.run.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert h.daemon.stop(timeout=5.0)
    assert not h.daemon.runtime.cancel.is_set()  # it finished within the grace time
    assert h.named("job_finished") and h.named("daemon_stopped")[0]["clean"] is True


def test_no_run_starts_once_stopping(harness: MakeHarness) -> None:
    h = harness()
    assert h.daemon.stop(timeout=1.0)
    when = datetime.now(timezone.utc)
    assert h.fire(when) == "interrupted"
    assert h.run.requests == [] and h.named("job_not_started")[0]["reason"] == "stopping"


def test_a_fire_time_due_when_stopping_is_neither_submitted_nor_spent(
    harness: MakeHarness,
) -> None:
    """APScheduler's shutdown wakes its thread for one more pass over the due jobs, which
    handed them to the executor being shut down ("Error submitting job") and moved their next
    fire time on without a run. The scheduler is held first: the due fire time stays due."""
    h = harness()
    (job,) = h.daemon.scheduler.get_jobs()
    due = datetime.now(timezone.utc) - timedelta(seconds=5)
    h.daemon.scheduler.modify_job(job.id, next_run_time=due)  # loaded paused: nothing runs
    assert h.daemon.stop(timeout=1.0)
    assert h.run.requests == []
    assert h.named("job_not_started") == []
    assert [e for e in h.events() if str(e["event"]).startswith("apscheduler")] == []
    (stored,) = h.daemon.store.get_all_jobs()
    assert stored.next_run_time == due


def test_a_job_store_failing_in_the_middle_of_a_pass_does_not_end_the_scheduler(
    harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APScheduler catches the store's errors only when it reads the due jobs: one raised when
    it moves a job on ended its thread, every schedule with it, while the daemon looked alive."""
    h = harness()
    store, scheduler = h.daemon.store, h.daemon.scheduler
    scheduler.jobstore_retry_interval = 0.2
    real_update = store.update_job
    failures: list[int] = []

    def update_job(job: object) -> None:
        if not failures:
            failures.append(1)
            raise StoreError(f"{store.path} is not a usable SQLite database (test)")
        real_update(job)

    (job,) = scheduler.get_jobs()
    scheduler.modify_job(job.id, next_run_time=datetime.now(timezone.utc))
    monkeypatch.setattr(store, "update_job", update_job)  # from the scheduler's pass on
    scheduler.resume()
    deadline = time.monotonic() + 10
    while len(h.named("job_finished")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert failures == [1]
    assert h.daemon.scheduler_healthy()
    assert len(h.named("job_finished")) >= 2, "no fire after the failed pass"
    (failed,) = h.named("scheduler_pass_failed")
    assert "not a usable SQLite database" in str(failed["error"])
    assert h.daemon.stop(timeout=5.0)


def test_a_job_broken_before_its_first_fire_runs_the_plan_it_was_loaded_with(
    harness: MakeHarness, project_dir: Path
) -> None:
    h = harness()
    write_play(project_dir, "tick", "{every: soon}")
    assert h.fire(datetime.now(timezone.utc)) == "ok"
    (request,) = h.run.requests
    assert request.plan is not None and request.plan.playbooks[0].plays[0].name == "tick"
    assert any(a.startswith("--last-good-plan=") for a in request.arguments)
    logged = h.named("job_config_error")
    assert logged and all("playbooks/site.yml:3:" in str(e["problem"]) for e in logged), logged
    assert not h.daemon.snapshot().healthy
