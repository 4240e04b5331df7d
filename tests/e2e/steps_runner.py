"""The step engine against a real sshd test host: a project planned for real (a check and a
backup on the host, for the steps that wait for checks and restore backups), a real connection
pool, the state store and backup stores of a run, and the events collected."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from jarvisctl.config.project import load_project
from jarvisctl.core.events import Collector, EventKind
from jarvisctl.core.secrets import SecretValues
from jarvisctl.engine.backups import BackupStores, BackupWork
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.runner import execute
from jarvisctl.engine.session import Session
from jarvisctl.engine.steps import StepRunner
from jarvisctl.kinds.base import KindParams
from jarvisctl.kinds.registry import load_registry
from jarvisctl.kinds.step_base import HostCommand, ShellAction, StepAction
from jarvisctl.plan.model import HostPlan, Plan, PlayPlan, StepPlan
from jarvisctl.plan.planner import make_plan
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store
from tests.e2e.sshd import SshdFleet, SshdHost


def step(action: StepAction, index: int = 0, **common: Any) -> StepPlan:
    name = common.pop("name", f"step {index + 1}")
    return StepPlan("task", index, name, common.pop("kind", "run"), action, KindParams(), **common)


def shell(
    *apply: str | HostCommand, probe: str | None = None, verify: str | None = None
) -> ShellAction:
    commands = tuple(c if isinstance(c, HostCommand) else HostCommand(c) for c in apply)
    return ShellAction(commands, probe, verify)


@dataclass
class StepsOnHost:
    """One sshd host, its files under `work` (the test hosts share this machine's files)."""

    root: Path
    fleet: SshdFleet
    host: SshdHost
    events: Collector = field(default_factory=Collector)
    cancel: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.work = self.root / "on-host"
        self.work.mkdir(parents=True)
        (self.work / "conf").mkdir()
        (self.root / "jarvisctl.yml").write_text(
            yaml.safe_dump({"state_dir": str(self.root / "state"), "inventory": "inv.yml"})
        )
        self.fleet.write_inventory(self.root / "inv.yml")
        play = {
            "name": "p",
            "hosts": self.host.name,
            "checks": [
                {
                    "name": "level",
                    "use": "command",
                    "with": {"command": f"cat {self.work}/level"},
                    "crit": 90,
                }
            ],
            "backups": [{"name": "conf", "paths": [str(self.work / "conf")], "keep": {"last": 3}}],
        }
        (self.root / "p.yml").write_text(yaml.safe_dump([play]))
        project = load_project(start=self.root)
        now = datetime.now(timezone.utc)
        self.plan: Plan = make_plan(
            project, [self.root / "p.yml"], None, now, secrets=SecretValues()
        )
        assert self.plan.ok, self.plan.problems
        self.store: Store = open_store(self.root / "state")
        self.pool = ConnectionPool()
        self.stores = BackupStores(self.root / "state")

    @property
    def play(self) -> PlayPlan:
        return self.plan.playbooks[0].plays[0]

    @property
    def host_plan(self) -> HostPlan:
        return self.play.hosts[0]

    def runner(self, mode: str = "run") -> StepRunner:
        session = Session(
            self.play, self.host_plan, load_registry(), self.events, None, self.cancel
        )
        connection = self.pool.get(self.host_plan.settings)
        work = BackupWork(self.stores, self.store.snapshots, mode)
        return StepRunner(session, connection, self.pool, work, mode=mode, cancel=self.cancel)

    def take_backup(self) -> None:
        """A run of the play: its check, then its backup (taken, verified)."""
        report = execute(
            self.plan,
            load_registry(),
            ConnectionPool(),
            forks=1,
            mode="run",
            cancel=threading.Event(),
            store=self.store,
            state_dir=self.root / "state",
        )
        (run,) = report.hosts
        assert [b.outcome for b in run.backups] == ["taken"], run

    def close(self) -> None:
        self.pool.close_all()
        self.store.close()

    def commands(self) -> list[dict[str, Any]]:
        return [e.payload.record() for e in self.events.of_kind(EventKind.COMMAND)]
