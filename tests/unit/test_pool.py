"""The connection pool: one connection per host, started early on request, reused, closed."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from threading import Event
from typing import Any

import pytest

from jarvisctl.app.run import RunRequest, plan_request
from jarvisctl.config.project import load_project
from jarvisctl.connection import ConnectionSettings
from jarvisctl.core.results import Outcome
from jarvisctl.core.secrets import SecretValues
from jarvisctl.engine import pool as pool_module
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.runner import execute
from jarvisctl.kinds.registry import load_registry
from tests.fakes import FakeConnection


def test_warm_starts_each_connection_once_and_get_reuses_it() -> None:
    made: list[FakeConnection] = []

    def factory(settings: ConnectionSettings) -> FakeConnection:
        made.append(FakeConnection(settings))
        return made[-1]

    pool = ConnectionPool(factory)
    hosts = [ConnectionSettings(host=f"h{i}", address=f"10.0.0.{i}") for i in range(3)]
    pool.warm(hosts[:2])
    assert [c.preconnected for c in made] == [1, 1] and not any(c.opened for c in made)
    assert pool.get(hosts[0]) is made[0] and made[0].opened == 1
    assert pool.get(hosts[2]) is made[2] and made[2].preconnected == 0
    pool.close_all()
    assert pool.open_count == 0


def test_an_unexpected_exception_opening_one_host_fails_that_host_only(tmp_path: Path) -> None:
    (tmp_path / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    good:\n    broken:\n")
    (tmp_path / "p.yml").write_text(
        "- name: p\n  hosts: all\n  checks:\n"
        "    - {name: up, use: command, with: {command: 'true', parse: exit_code}}\n"
    )
    project = load_project(start=tmp_path)
    plan = plan_request(project, RunRequest(playbooks=(tmp_path / "p.yml",)), SecretValues())

    def factory(settings: ConnectionSettings) -> FakeConnection:
        if settings.host == "broken":
            return FakeConnection(settings, open_error=RuntimeError("a bug in a library"))
        fake = FakeConnection(settings)
        fake.expect(re.compile(r"^sh -s"), stdout="")
        return fake

    report = execute(
        plan, load_registry(), ConnectionPool(factory), forks=2, mode="run", cancel=Event()
    )
    outcomes = {run.host: (run.outcome, run.error) for run in report.hosts}
    assert outcomes["broken"] == (Outcome.FAILED, "RuntimeError: a bug in a library")
    assert outcomes["good"][0] is Outcome.OK


def test_closing_waits_for_stuck_closes_once_not_once_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CLOSE_SECONDS bounds the whole closing: four connections whose close hangs (a host that
    stopped answering mid-command) hold the end of a run that long, not four times as long."""
    monkeypatch.setattr(pool_module, "CLOSE_SECONDS", 0.5)
    release = Event()

    class Stuck(FakeConnection):
        def close(self) -> None:
            release.wait(5)

    hosts = [ConnectionSettings(host=f"h{i}", address=f"10.0.0.{i}") for i in range(4)]
    pool = ConnectionPool(Stuck)
    for settings in hosts:
        pool.get(settings)
    started = time.monotonic()
    pool.close_all()
    took = time.monotonic() - started
    release.set()
    assert 0.45 <= took < 1.0, took


def test_idle_connections_close_in_the_caller_and_busy_ones_each_in_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An idle connection has nothing to end on its host: closing it needs no thread (one each
    cost a 50-host run 67 ms at its end); a busy one, or one that does not say, gets its own."""
    closed_in: dict[str, str] = {}
    started: list[object] = []

    class Said(FakeConnection):
        def __init__(self, settings: ConnectionSettings) -> None:
            super().__init__(settings)
            self.idle = settings.host.startswith("idle")

        def close(self) -> None:
            closed_in[self.settings.host] = threading.current_thread().name
            super().close()

    class Unsaid(FakeConnection):
        def close(self) -> None:
            closed_in[self.settings.host] = threading.current_thread().name
            super().close()

    real_thread = pool_module.threading.Thread

    def counted(*args: Any, **kwargs: Any) -> threading.Thread:
        started.append(kwargs.get("target"))
        return real_thread(*args, **kwargs)

    monkeypatch.setattr(pool_module.threading, "Thread", counted)
    pool = ConnectionPool(lambda s: Unsaid(s) if s.host == "plugin" else Said(s))
    names = ["idle1", "idle2", "idle3", "busy1", "busy2", "plugin"]
    for name in names:
        pool.get(ConnectionSettings(host=name, address="10.0.0.1"))
    pool.close_all()
    here = threading.current_thread().name
    assert set(closed_in) == set(names)
    assert [n for n in names if closed_in[n] == here] == ["idle1", "idle2", "idle3"]
    assert len(started) == 3  # busy1, busy2 and the plugin's, which does not say
