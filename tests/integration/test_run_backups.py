"""The engine takes a host's backups after its checks, on the connection the checks used, in the
order the plan lists them: taken (real tar over a local connection), verified, pruned, each an
event, into the real local store and SQLite snapshot index; a failed one makes the host failed;
check mode takes none; a stopped run takes none; the freshness check is evaluated after them.
Plans are built here (HostPlan.backups), as the planner makes them."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.core.errors import Location
from jarvisctl.core.events import BACKUP, BACKUP_PRUNE, BACKUP_VERIFY, CHECK, MAINTENANCE, Collector
from jarvisctl.core.results import Outcome, RunReport, RunStatus, Status
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.runner import execute
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan.model import (
    BackupPlan,
    CheckPlan,
    HostPlan,
    Plan,
    Retention,
)
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import SnapshotState
from tests.backup.helpers import (
    backup_plan,
    freshness_check,
    plan_of_hosts,
    run_jarvisctl,
)
from tests.fakes import FakeClock

LOCAL = ConnectionSettings(host="localhost", address="localhost", connection="local")
HERE = Location("p.yml", 1, 1)
DAY = 86400.0


def backup(name: str, paths: tuple[str, ...], **more: object) -> BackupPlan:
    values = {"keep": Retention(last=2), "max_age": DAY, "verify": "restore", **more}
    return backup_plan(name=name, play="p", paths=paths, location=HERE, **values)


def freshness(name: str) -> CheckPlan:
    return freshness_check(name, location=HERE)


def plan_of(*backups: BackupPlan, checks: tuple[CheckPlan, ...] = ()) -> Plan:
    return plan_of_hosts([HostPlan("localhost", LOCAL, checks, backups)], HERE)


def run(plan: Plan, state: Path, store: Store, **more: object) -> tuple[RunReport, Collector]:
    events = Collector()
    report = execute(
        plan,
        load_registry(),
        ConnectionPool(),
        forks=1,
        mode=str(more.pop("mode", "run")),
        cancel=more.pop("cancel", threading.Event()),  # type: ignore[arg-type]
        store=store,
        events=events,
        state_dir=state,
        clock=more.pop("clock", FakeClock()),  # type: ignore[arg-type]
    )
    return report, events


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b name.txt").write_text("beta\n")
    return root


def test_a_backup_is_taken_verified_and_pruned_after_the_checks(tmp_path: Path, tree: Path) -> None:
    state = tmp_path / "state"
    clock = FakeClock(1_800_000_000.0)
    with open_store(state) as store:
        plan = plan_of(backup("data", (str(tree),)), checks=(freshness("data"),))
        seen = []
        for _ in range(3):
            clock.advance(3600)
            report, events = run(plan, state, store, clock=clock)
            seen.append(report)
        (host,) = report.hosts
        assert host.outcome is Outcome.OK and report.status is RunStatus.OK
        (note,) = host.backups
        assert (note.outcome, note.verify, note.verified, note.pruned) == (
            "taken",
            "restore",
            True,
            1,
        )
        assert note.files == 4 and note.bytes == len("alpha\nbeta\n")
        watched = (MAINTENANCE, BACKUP, BACKUP_VERIFY, BACKUP_PRUNE, CHECK)
        kinds = [e.kind for e in events.events if e.kind in watched]
        # the take is jarvisctl's maintenance (its host's alerts silenced until its Backup
        # event: issue 19); the freshness check comes after the backup
        assert kinds == [MAINTENANCE, BACKUP, BACKUP_VERIFY, BACKUP_PRUNE, CHECK]
        (begun,) = events.of_kind(MAINTENANCE)
        assert begun.data == {
            "what": "backup",
            "name": "data",
            "key": "backup:data",
            "seconds": 60.0,
        }
        (check,) = host.checks
        assert (check.status, check.value, check.source) == (Status.OK, 0.0, "controller")
        snapshots = store.snapshots.list("localhost", "data")
        assert [s.id for s in snapshots] == [r.hosts[0].backups[0].snapshot for r in seen[:0:-1]]
        assert all(s.state is SnapshotState.VERIFIED for s in snapshots)
        prune = events.of_kind(BACKUP_PRUNE)[0].payload
        assert prune.forgotten == (seen[0].hosts[0].backups[0].snapshot,)  # type: ignore[attr-defined]


def test_check_mode_takes_no_backup_and_says_so(tmp_path: Path, tree: Path) -> None:
    state = tmp_path / "state"
    with open_store(state) as store:
        report, _ = run(plan_of(backup("data", (str(tree),))), state, store, mode="check")
        (note,) = report.hosts[0].backups
        assert note.outcome == "skipped" and note.reason.startswith("check mode: would back up ")
        assert store.snapshots.list() == ()
        assert report.hosts[0].outcome is Outcome.OK


def test_a_failed_backup_makes_the_host_failed_and_the_next_backup_still_runs(
    tmp_path: Path, tree: Path
) -> None:
    state = tmp_path / "state"
    missing = str(tmp_path / "no such dir")
    with open_store(state) as store:
        plan = plan_of(backup("gone", (missing,)), backup("data", (str(tree),)))
        report, _ = run(plan, state, store)
        (host,) = report.hosts
        gone, data = host.backups
        assert (gone.outcome, gone.stage, data.outcome) == ("failed", "take", "taken")
        assert host.outcome is Outcome.FAILED and report.status is RunStatus.NOT_OK
        assert host.error.startswith("backup 'gone' failed at take: ")
        assert [s.backup for s in store.snapshots.list()] == ["data"]
        partial = [p for p in (state / "backups").rglob("*") if p.is_file() and "gone" in str(p)]
        assert partial == []  # nothing of the failed one was kept


def test_a_stopped_run_takes_no_backup(tmp_path: Path, tree: Path) -> None:
    state = tmp_path / "state"
    stop = threading.Event()
    stop.set()
    with open_store(state) as store:
        report, _ = run(plan_of(backup("data", (str(tree),))), state, store, cancel=stop)
        assert report.hosts[0].outcome is Outcome.SKIPPED and report.interrupted
        assert store.snapshots.list() == ()


def test_freshness_turns_critical_past_max_age_and_ok_after_the_next_backup(
    tmp_path: Path, tree: Path
) -> None:
    state, clock = tmp_path / "state", FakeClock(1_800_000_000.0)
    with open_store(state) as store:
        plan = plan_of(backup("data", (str(tree),)), checks=(freshness("data"),))
        report, _ = run(plan, state, store, clock=clock)
        assert report.hosts[0].checks[0].status is Status.OK
        clock.advance(DAY + 1)  # past max_age, nothing taken since: check mode takes none
        report, _ = run(plan, state, store, clock=clock, mode="check")
        (check,) = report.hosts[0].checks
        assert (check.status, check.value) == (Status.CRITICAL, DAY + 1)
        assert check.reason.startswith("86401 s crossed crit >= 86400: newest snapshot ")
        report, _ = run(plan, state, store, clock=clock)
        (check,) = report.hosts[0].checks
        assert (check.status, check.value, check.previous_status) == (
            Status.OK,
            0.0,
            Status.CRITICAL,
        )


def test_a_snapshot_that_fails_verification_fails_the_host_and_its_freshness(
    tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that flips a byte of what it keeps (a bad disk): the run's own verification finds
    the file that differs, the snapshot is unusable, nothing is pruned in its favour."""
    from jarvisctl.backup.stores import local

    commit = local.LocalSnapshotWriter.commit

    def corrupting(writer: local.LocalSnapshotWriter) -> tuple[str, int]:
        location, size = commit(writer)
        stored = writer._store.root / location
        stored.write_bytes(stored.read_bytes().replace(b"alpha\n", b"alphA\n"))
        return location, size

    state, clock = tmp_path / "state", FakeClock(1_800_000_000.0)
    plan = plan_of(
        backup("data", (str(tree),), compress="none", keep=Retention(last=1)),
        checks=(freshness("data"),),
    )
    with open_store(state) as store:
        good, _ = run(plan, state, store, clock=clock)
        clock.advance(3600)
        monkeypatch.setattr(local.LocalSnapshotWriter, "commit", corrupting)
        report, events = run(plan, state, store, clock=clock)
        (host,) = report.hosts
        (note,) = host.backups
        assert (note.outcome, note.stage, note.verified, note.pruned) == (
            "failed",
            "verify",
            False,
            None,
        )
        assert f"{tree}/a.txt" in note.reason
        assert host.outcome is Outcome.FAILED and report.status is RunStatus.NOT_OK
        verify = events.of_kind(BACKUP_VERIFY)[0].payload
        assert (verify.ok, verify.state) == (False, "unusable")  # type: ignore[attr-defined]
        assert events.of_kind(BACKUP_PRUNE) == []
        (check,) = host.checks
        assert check.status is Status.CRITICAL and "is unusable" in check.reason
        states = [s.state for s in store.snapshots.list("localhost", "data")]
        assert states == [SnapshotState.UNUSABLE, SnapshotState.VERIFIED]
        monkeypatch.undo()
        clock.advance(3600)
        report, _ = run(plan, state, store, clock=clock)
        assert report.hosts[0].checks[0].status is Status.OK
        kept = store.snapshots.list("localhost", "data")
        # keep last 1: the new verified one; the unusable one stays as evidence, never pruned
        assert [s.state for s in kept] == [SnapshotState.VERIFIED, SnapshotState.UNUSABLE]
        assert good.hosts[0].backups[0].snapshot not in {s.id for s in kept}


def test_a_stop_during_the_transfer_keeps_nothing_and_says_interrupted(
    tmp_path: Path, tree: Path
) -> None:
    (tree / "big.bin").write_bytes(os.urandom(4 << 20))
    state, stop = tmp_path / "state", threading.Event()
    slow = backup("data", (str(tree),), compress="none", bandwidth=512 * 1024)  # ~8 s
    threading.Timer(1.5, stop.set).start()
    with open_store(state) as store:
        started = time.monotonic()
        report, events = run(plan_of(slow), state, store, cancel=stop)
        assert time.monotonic() - started < 6  # the stop ended the transfer
        (host,) = report.hosts
        (note,) = host.backups
        assert note.outcome == "interrupted" and note.snapshot is None
        assert host.outcome is Outcome.INTERRUPTED and report.status is RunStatus.INTERRUPTED
        assert store.snapshots.list() == ()
        assert [p for p in (state / "backups").rglob("*") if p.is_file()] == []
        assert [e.payload.outcome for e in events.of_kind(BACKUP)] == ["interrupted"]  # type: ignore[attr-defined]


SECRET = "tOk3n-'$\"é-s3cr3t"
SECRET_PLAY = """\
- name: dump
  hosts: localhost
  vars:
    token: "{{ env('JV_BACKUP_TOKEN') }}"
  backups:
    - name: db
      command: "echo dump {{ token }}; echo refused {{ token }} >&2; exit 3"
      file: db.dump
      keep: {last: 1}
"""


def test_a_backup_commands_secret_appears_in_no_output(tmp_path: Path) -> None:
    """The command and the reason it failed (its stderr holds the secret) are in the journal,
    the JSON, the text and the reports, each redacted."""
    (tmp_path / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
    (tmp_path / "inventory.yml").write_text(
        "all:\n  hosts:\n    localhost: {ansible_connection: local}\n"
    )
    (tmp_path / "play.yml").write_text(SECRET_PLAY)
    env = {**os.environ, "JV_BACKUP_TOKEN": SECRET}

    def jarvisctl(*args: str) -> subprocess.CompletedProcess[str]:
        return run_jarvisctl(tmp_path, *args, env=env)

    done = jarvisctl("run", "play.yml", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    (host,) = json.loads(done.stdout)["hosts"]
    (backup,) = host["backups"]
    assert backup["outcome"] == "failed" and "refused ***" in backup["reason"]
    assert backup["what"] == ["echo dump ***; echo refused *** >&2; exit 3"]
    outputs = [done.stdout, done.stderr, jarvisctl("run", "play.yml").stdout]
    outputs += [jarvisctl("report", "last", "--format", f).stdout for f in ("md", "html", "junit")]
    outputs += [p.read_text() for p in (tmp_path / ".jarvisctl" / "runs").glob("*.jsonl")]
    core = SECRET[:5]
    assert all(core not in text for text in outputs)
    assert all("refused" in text for text in outputs[2:])  # each of them shows the reason
