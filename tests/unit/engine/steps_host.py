"""One scripted host for the step engine's unit tests: a play planned for real (its checks,
for the steps that wait for them), a FakeConnection, a FakeClock, and the events collected."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.config.project import load_project
from jarvisctl.core.events import Collector, EventKind
from jarvisctl.core.secrets import SecretValues
from jarvisctl.engine.backups import BackupWork
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.session import Session
from jarvisctl.engine.steps import StepRunner
from jarvisctl.kinds.base import KindParams
from jarvisctl.kinds.registry import load_registry
from jarvisctl.kinds.step_base import HostCommand, ShellAction, StepAction
from jarvisctl.plan.model import StepPlan
from jarvisctl.plan.planner import make_plan
from tests.fakes import FakeClock, FakeConnection

CHECKS = [{"name": "level", "use": "command", "with": {"command": "cat level"}, "crit": 90}]


def step(action: StepAction, index: int = 0, **common: Any) -> StepPlan:
    name = common.pop("name", f"step {index + 1}")
    return StepPlan("task", index, name, common.pop("kind", "run"), action, KindParams(), **common)


def shell(*apply: str, probe: str | None = None, verify: str | None = None) -> ShellAction:
    return ShellAction(tuple(HostCommand(c) for c in apply), probe, verify)


@dataclass
class Host:
    """The runner, its fake connection and what it emitted."""

    root: Path
    settings: ConnectionSettings = field(
        default_factory=lambda: ConnectionSettings(host="h1", address="h1.test")
    )
    clock: FakeClock = field(default_factory=FakeClock)
    cancel: threading.Event = field(default_factory=threading.Event)
    events: Collector = field(default_factory=Collector)
    made: list[FakeConnection] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
        inventory = {"all": {"hosts": {"h1": {"address": "h1.test"}}}}
        (self.root / "inventory.yml").write_text(yaml.safe_dump(inventory))
        play = [{"name": "p", "hosts": "all", "checks": CHECKS}]
        (self.root / "p.yml").write_text(yaml.safe_dump(play))
        project = load_project(start=self.root)
        now = datetime.now(timezone.utc)
        plan = make_plan(project, [self.root / "p.yml"], None, now, secrets=SecretValues())
        assert plan.ok, plan.problems
        self.play = plan.playbooks[0].plays[0]
        self.fake = FakeConnection(self.settings)
        self.pool = ConnectionPool(self._connect)

    def _connect(self, settings: ConnectionSettings) -> FakeConnection:
        self.made.append(self.fake)
        return self.fake

    def runner(self, mode: str = "run", **settings: Any) -> StepRunner:
        if settings:
            self.fake.settings = replace(self.fake.settings, **settings)
        host = replace(self.play.hosts[0], settings=self.fake.settings)
        session = Session(
            self.play, host, load_registry(), self.events, None, self.cancel, self.clock
        )
        work = BackupWork(None, None, mode)
        return StepRunner(
            session, self.fake, self.pool, work, mode=mode, cancel=self.cancel, rollout="r1"
        )

    def step_events(self) -> list[dict[str, Any]]:
        return [e.payload.record() for e in self.events.of_kind(EventKind.STEP)]

    def command_events(self) -> list[dict[str, Any]]:
        return [e.payload.record() for e in self.events.of_kind(EventKind.COMMAND)]
