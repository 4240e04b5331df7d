"""The engine's rules for a host's backups that need no transfer: check mode takes none and says
what it would do; a host whose session ended (unreachable) has its backups not attempted; a
store that cannot be opened fails each backup naming it, the host failed and the run not OK.
Scripted hosts (FakeConnection: a command nobody expected fails the test), the real runner,
SQLite store and backup store factory."""

from __future__ import annotations

import threading
from pathlib import Path

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.core.backup_events import Backup
from jarvisctl.core.errors import Location, UnreachableError
from jarvisctl.core.events import BACKUP, Collector
from jarvisctl.core.results import Outcome, RunReport, RunStatus
from jarvisctl.engine.backups import BackupStores
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.runner import execute
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan.model import (
    BackupPlan,
    BackupStorePlan,
    HostPlan,
    Plan,
)
from jarvisctl.store.factory import open_store
from tests.backup.helpers import backup_plan, plan_of_hosts
from tests.fakes import FakeClock, FakeConnection

HERE = Location("p.yml", 3, 7)
LOCAL_STORE = BackupStorePlan("local", "local", "")


def backup(name: str, store: BackupStorePlan = LOCAL_STORE) -> BackupPlan:
    paths = ("/etc/app", "/srv/my data")
    return backup_plan(name=name, play="p", paths=paths, store=store, location=HERE)


def plan_of(hosts: dict[str, tuple[BackupPlan, ...]]) -> Plan:
    plans = [
        HostPlan(name, ConnectionSettings(host=name, address=name), (), backups)
        for name, backups in hosts.items()
    ]
    return plan_of_hosts(plans, HERE)


def run(
    plan: Plan, fakes: dict[str, FakeConnection], state: Path, mode: str = "run"
) -> tuple[RunReport, list[Backup]]:
    """One run of `plan`, its state (and default local backup store) under `state`."""
    events = Collector()
    with open_store(state) as store:
        report = execute(
            plan,
            load_registry(),
            ConnectionPool(lambda settings: fakes[settings.host]),
            forks=2,
            mode=mode,
            cancel=threading.Event(),
            store=store,
            events=events,
            state_dir=state,
            clock=FakeClock(),
        )
    payloads = [e.payload for e in events.of_kind(BACKUP)]
    return report, [p for p in payloads if isinstance(p, Backup)]


def test_check_mode_takes_no_backup_and_says_what_it_would_do(tmp_path: Path) -> None:
    fake = FakeConnection.for_host("h1")
    report, events = run(plan_of({"h1": (backup("etc"),)}), {"h1": fake}, tmp_path, "check")
    (host,) = report.hosts
    (note,) = host.backups
    assert (note.outcome, note.snapshot) == ("skipped", None)
    assert note.reason == (
        "check mode: would back up /etc/app, /srv/my data into the backup store 'local'"
    )
    assert fake.commands == []  # nothing ran on the host
    assert host.outcome is Outcome.OK and report.status is RunStatus.OK
    assert [(e.backup, e.outcome, e.reason) for e in events] == [("etc", "skipped", note.reason)]
    assert not (tmp_path / "backups").exists()


def test_an_unreachable_host_has_its_backups_not_attempted(tmp_path: Path) -> None:
    down = FakeConnection.for_host("h1", open_error=UnreachableError("h1: connection refused"))
    report, events = run(plan_of({"h1": (backup("etc"), backup("db"))}), {"h1": down}, tmp_path)
    (host,) = report.hosts
    assert host.outcome is Outcome.UNREACHABLE and report.status is RunStatus.UNREACHABLE
    assert [(n.name, n.outcome, n.reason) for n in host.backups] == [
        ("etc", "skipped", "not attempted: the host's session ended unreachable"),
        ("db", "skipped", "not attempted: the host's session ended unreachable"),
    ]
    assert [e.outcome for e in events] == ["skipped", "skipped"]


def test_a_store_that_cannot_be_opened_fails_its_backups_and_the_host(tmp_path: Path) -> None:
    offsite = BackupStorePlan("offsite", "restic", "/srv/restic", password=None)
    fakes = {h: FakeConnection.for_host(h) for h in ("h1", "h2")}
    plan = plan_of({"h1": (backup("etc", offsite),), "h2": (backup("etc", offsite),)})
    report, events = run(plan, fakes, tmp_path)
    for host in report.hosts:
        (note,) = host.backups
        assert (note.outcome, note.stage) == ("failed", "take")
        assert note.reason.startswith("cannot open the backup store 'offsite': ")
        assert "has no password" in note.reason
        assert host.outcome is Outcome.FAILED
        assert host.error == f"backup 'etc' failed at take: {note.reason}"
    assert report.status is RunStatus.NOT_OK and report.recap()["h1"]["failed"] == 1
    assert all(f.commands == [] for f in fakes.values())
    assert [e.stage for e in events] == ["take", "take"]


def test_without_a_state_directory_a_backup_fails_saying_why(tmp_path: Path) -> None:
    fake = FakeConnection.for_host("h1")
    events = Collector()
    with open_store(tmp_path / "state") as store:
        report = execute(
            plan_of({"h1": (backup("etc"),)}),
            load_registry(),
            ConnectionPool(lambda settings: fake),
            forks=1,
            mode="run",
            cancel=threading.Event(),
            store=store,
            events=events,
            clock=FakeClock(),
        )
    (note,) = report.hosts[0].backups
    assert note.outcome == "failed" and note.reason.startswith("no state store to keep snapshots")


def test_each_backup_store_is_opened_once_per_run(tmp_path: Path) -> None:
    stores = BackupStores(tmp_path)
    local = stores.get(LOCAL_STORE)
    assert stores.get(LOCAL_STORE) is local
    broken = BackupStorePlan("offsite", "restic", "/srv/restic")
    errors = []
    for _ in range(2):
        try:
            stores.get(broken)
        except Exception as exc:
            errors.append(exc)
    assert len(errors) == 2 and errors[0] is errors[1]
