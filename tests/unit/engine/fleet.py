"""A fleet of scripted hosts for the engine's rule cases: the real planner, runner, SQLite
store and audit journal; FakeConnection for the hosts and FakeClock for time.

Each `run` is one `jarvisctl run` of the case's play: a fresh connection pool and journal, the
same store, the clock where the case moved it. What a host answers is a mapping of its commands
(a check's command, a remediation's) to answers: a string is what the command prints (exit 0),
a mapping says {stdout, stderr, exit}, {hang: true} overruns the command's deadline (the
connection ends the script there), a list gives the answers in order (the last repeats:
the check, then its verification), {drop: N} drops the connection as a reboot does, the
host refusing the next N connections. `unreachable` instead of a mapping: the host cannot be
reached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.config.project import load_project
from jarvisctl.connection.base import CommandResult
from jarvisctl.core.errors import UnreachableError
from jarvisctl.core.results import RunReport
from jarvisctl.core.secrets import SecretValues
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.runner import execute
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan.model import Plan
from jarvisctl.plan.planner import make_plan
from jarvisctl.record.audit import Journal, Record, iter_records, read_journal
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store
from jarvisctl.store.ledger import RemediationLedger
from tests.fakes import FakeClock, FakeConnection

PLAY = "p"
UNREACHABLE = "unreachable"
Answers = Mapping[str, Any] | str  # a host's commands and answers, or UNREACHABLE


@dataclass
class Step:
    """What one run saw: its report, its journal, each host's connection (absent: unreachable
    or never connected), and the sleeps the engine asked of the clock."""

    report: RunReport
    records: list[Record]
    connections: dict[str, FakeConnection]
    slept: list[float]


@dataclass
class Fleet:
    root: Path
    hosts: tuple[str, ...]
    plan: Plan
    store: Store
    clock: FakeClock = field(default_factory=FakeClock)
    forks: int = 1  # one host at a time: the clock's sleeps happen in a known order

    @classmethod
    def create(cls, root: Path, hosts: tuple[str, ...], play: Mapping[str, Any]) -> Fleet:
        (root / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
        inventory = {"all": {"hosts": {name: {"address": f"{name}.test"} for name in hosts}}}
        (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
        (root / "p.yml").write_text(yaml.safe_dump([{"name": PLAY, "hosts": "all", **play}]))
        project = load_project(start=root)
        now = datetime.now(timezone.utc)
        plan = make_plan(project, [root / "p.yml"], None, now, secrets=SecretValues())
        if not plan.ok:
            pytest.fail(f"the case's play does not plan: {plan.problems}")
        return cls(root, hosts, plan, open_store(root / "state"))

    @property
    def ledger(self) -> RemediationLedger:
        return self.store.ledger

    def run(self, answers: Mapping[str, Answers], *, mode: str = "run") -> Step:
        made: dict[str, FakeConnection] = {}

        def connect(settings: ConnectionSettings) -> FakeConnection:
            # one connection per host and run: after a reboot its answers go on in order
            if settings.host not in made:
                made[settings.host] = scripted(settings, answers[settings.host])
            return made[settings.host]

        run_id = f"step-{len(list(self.root.glob('runs/*.jsonl'))) + 1}"
        journal_file = self.root / "runs" / f"{run_id}.jsonl"
        journal = Journal(journal_file, run_id)
        slept = len(self.clock.slept)
        try:
            report = execute(
                self.plan,
                load_registry(),
                ConnectionPool(connect),
                forks=self.forks,
                mode=mode,
                cancel=threading.Event(),
                store=self.store,
                events=journal,
                run_id=run_id,
                clock=self.clock,
            )
        finally:
            journal.close()
        records = list(iter_records(read_journal(journal_file)))
        reached = {h: c for h, c in made.items() if c.opened}
        return Step(report, records, reached, self.clock.slept[slept:])


def scripted(settings: ConnectionSettings, answers: Answers) -> FakeConnection:
    host = settings.host
    if answers == UNREACHABLE:
        return FakeConnection(settings, open_error=UnreachableError(f"{host}: connection refused"))
    fake = FakeConnection(settings)
    assert isinstance(answers, Mapping), f"{host}: answers must be a mapping"
    for command, answer in answers.items():
        for one in answer if isinstance(answer, list) else [answer]:
            if isinstance(one, Mapping) and "drop" in one:
                fake.respond(command, _dropped(fake, int(one["drop"])))
            elif isinstance(one, Mapping) and one.get("hang"):  # overruns its deadline
                stdout = str(one.get("stdout", ""))
                fake.expect(command, stdout=stdout, exit_code=None, timed_out=True)
            elif isinstance(one, Mapping):
                stdout, stderr = str(one.get("stdout", "")), str(one.get("stderr", ""))
                fake.expect(command, stdout=stdout, stderr=stderr, exit_code=one.get("exit", 0))
            else:
                fake.expect(command, stdout=f"{one}\n")
    return fake


def _dropped(fake: FakeConnection, refusals: int) -> Callable[[str, str | None], CommandResult]:
    def drop(command: str, stdin: str | None) -> CommandResult:
        fake.close()
        fake.refused_opens = refusals
        raise UnreachableError(f"{fake.settings.host}: connection closed by the host")

    return drop
