"""The engine's rules as data: tests/cases/engine/<case>.yaml, each run through the real runner,
planner, SQLite store and audit journal, with scripted hosts and a clock the case moves.

A case: `about` (the rule, in a sentence), `hosts` (default [h1]), `play` (a play's keys:
checks with thresholds and ladders, max_fleet_percent...), `forks` (default 1: hosts one at a
time, so that the clock's sleeps come in a known order), and `steps`, each one run:

    - advance: 10m            # the clock moves first (a duration, or seconds)
      repeat: 3               # run the step 3 times (advancing before each); expect the last
      mode: check             # default run
      reset: {h1: level}        # an operator's `remediations reset h1 level` first (null: all)
      hosts: {h1: {cat level: [95, 50], fix: ""}}   # tests/unit/engine/fleet.py; a host not
                                                    # named answers as in the step before
      expect:
        h1:
          outcome: changed
          checks: {level: critical}     # or {level: {status, raw_status, previous_status,
                                        #  flapping, value, reason (its start)}}
          remediations: [1 not verified, 2 verified]   # or {rung, outcome, reason (its start)}
          ran: [cat level, fix, cat level]   # every command the host ran, checks unpacked
          ledger: {level: {attempts: {1: 2}, escalated: true}}   # attempts per rung; also
                                        # times: {1: [0, 60]} (seconds since the case began)
          state: {level: {status: critical, since: 60}}   # the stored check state: status,
                                        # pending, pending_count, flapping; since, updated
                                        # (seconds since the case began)
          journal: [host_connected, batch, command, check, ...]  # its journal records' kinds
        run:
          circuit_open: [{check: level, use: run, hosts: [h1, h2]}]
          slept: [10]                   # the sleeps the engine asked of the clock (settle)

Only what a step's `expect` names is asserted; a host with no `ran` is still held to its
script (FakeConnection fails on a command it does not expect).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from jarvisctl.config.models.values import parse_duration
from jarvisctl.core.results import CheckResult, HostRun, RemediationNote
from tests.unit.engine.fleet import PLAY, Answers, Fleet, Step

CASES = Path(__file__).parent.parent.parent / "cases" / "engine"


def _cases() -> list[Any]:
    return [pytest.param(path, id=path.stem) for path in sorted(CASES.glob("*.yaml"))]


def test_the_cases_are_there_and_named_for_this_runner() -> None:
    # tests/unit/test_kinds.py and test_readings.py read tests/cases/*/*.yml as kinds' cases
    assert not list(CASES.glob("*.yml")), "engine cases are .yaml"
    assert len(_cases()) >= 20


@pytest.mark.parametrize("path", _cases())
def test_rule_case(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    assert case.get("about"), f"{path.name}: say which rule the case shows (`about`)"
    hosts = tuple(case.get("hosts", ["h1"]))
    fleet = Fleet.create(tmp_path, hosts, case["play"])
    fleet.forks = case.get("forks", fleet.forks)
    answers: dict[str, Answers] = {}
    for number, step in enumerate(case["steps"], 1):
        answers.update(step.get("hosts", {}))
        for host, check in step.get("reset", {}).items():
            fleet.ledger.reset(host, check)
        missing = set(hosts) - set(answers)
        assert not missing, f"step {number}: no answers for {sorted(missing)}"
        for _ in range(step.get("repeat", 1)):
            fleet.clock.advance(parse_duration(step.get("advance", 0)))
            seen = fleet.run(answers, mode=step.get("mode", "run"))
        for name, expected in step.get("expect", {}).items():
            where = f"{path.name}, step {number}, {name}"
            if name == "run":
                _expect_run(where, seen, expected)
            else:
                _expect_host(where, fleet, seen, name, expected)


def _expect_run(where: str, seen: Step, expected: Mapping[str, Any]) -> None:
    if "circuit_open" in expected:
        opened = [
            {"check": r.data["check"], "use": r.data["use"], "hosts": sorted(r.data["hosts"])}
            for r in seen.records
            if r.kind == "circuit_open"
        ]
        assert opened == expected["circuit_open"], where
    if "slept" in expected:
        assert seen.slept == [float(s) for s in expected["slept"]], where
    assert set(expected) <= {"circuit_open", "slept"}, f"{where}: unknown {sorted(expected)}"


def _expect_host(
    where: str, fleet: Fleet, seen: Step, name: str, expected: Mapping[str, Any]
) -> None:
    (run,) = [r for r in seen.report.hosts if r.host == name]
    known = {"outcome", "checks", "remediations", "ran", "ledger", "state", "journal"}
    assert set(expected) <= known, f"{where}: unknown {sorted(set(expected) - known)}"
    if "outcome" in expected:
        assert run.outcome.value == expected["outcome"], f"{where}: {run.error}"
    for check, want in expected.get("checks", {}).items():
        _expect_check(f"{where}, check {check!r}", _check(run, check), want)
    if "remediations" in expected:
        notes = [_note(n) for n in run.remediations]
        wanted = [_wanted_note(w, n) for w, n in _padded(expected["remediations"], notes)]
        assert notes == wanted, where
    if "ran" in expected:
        connection = seen.connections.get(name)
        ran = [] if connection is None else [c for c in connection.commands if c != "sh -s"]
        assert ran == expected["ran"], where
    for check, want in expected.get("ledger", {}).items():
        _expect_ledger(f"{where}, ledger of {check!r}", fleet, name, check, want)
    for check, want in expected.get("state", {}).items():
        _expect_state(f"{where}, state of {check!r}", fleet, name, check, want)
    if "journal" in expected:
        kinds = [r.kind for r in seen.records if r.host == name]
        assert kinds == expected["journal"], where


def _check(run: HostRun, name: str) -> CheckResult:
    found = [c for c in run.checks if c.name == name]
    assert found, f"{run.host}: no check {name!r} in {[c.name for c in run.checks]}"
    return found[0]


def _expect_check(where: str, result: CheckResult, want: Any) -> None:
    want = {"status": want} if isinstance(want, str) else want
    got: dict[str, Any] = {
        "status": result.status.value,
        "raw_status": (result.raw_status or result.status).value,
        "previous_status": result.previous_status.value if result.previous_status else None,
        "flapping": result.flapping,
        "value": result.value,
        "reason": result.reason,
    }
    assert set(want) <= set(got), f"{where}: unknown {sorted(set(want) - set(got))}"
    if "reason" in want:
        assert str(got["reason"]).startswith(want["reason"]), f"{where}: {got['reason']!r}"
    shown = {key: got[key] for key in want if key != "reason"}
    assert shown == {key: want[key] for key in shown}, where


def _note(note: RemediationNote) -> dict[str, Any]:
    return {"rung": note.rung, "outcome": note.outcome.value, "reason": note.reason}


def _padded(wanted: list[Any], notes: list[dict[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
    blank = {"rung": None, "outcome": None, "reason": ""}
    return [(w, notes[i] if i < len(notes) else blank) for i, w in enumerate(wanted)]


def _wanted_note(want: Any, note: Mapping[str, Any]) -> dict[str, Any]:
    """`1 not verified` or {rung, outcome, reason}: a reason is matched by its start."""
    if isinstance(want, str):
        rung, outcome = want.split(" ", 1)
        want = {"rung": int(rung), "outcome": outcome}
    reason = str(note["reason"])
    if "reason" in want and reason.startswith(want["reason"]):
        want = {**want, "reason": reason}
    return {"reason": reason, **want}


def _expect_ledger(where: str, fleet: Fleet, host: str, check: str, want: Any) -> None:
    assert set(want) <= {"attempts", "times", "escalated"}, f"{where}: unknown {sorted(want)}"
    past = fleet.ledger.read(host, PLAY, check)
    times = {
        int(key.split(":")[0]): [at - fleet.clock.start for at in ats]
        for key, ats in past.attempts.items()
    }
    if "attempts" in want:
        assert {rung: len(ats) for rung, ats in times.items()} == want["attempts"], where
    if "times" in want:
        assert times == want["times"], where
    if "escalated" in want:
        assert (past.escalated_since is not None) == want["escalated"], where


def _expect_state(where: str, fleet: Fleet, host: str, check: str, want: Mapping[str, Any]) -> None:
    state = fleet.store.checks.read_host(host).get((PLAY, check))
    assert state is not None, f"{where}: no state stored"
    got = {
        "status": state.status.value,
        "pending": state.pending.value if state.pending else None,
        "pending_count": state.pending_count,
        "flapping": state.flapping,
        "since": state.since - fleet.clock.start,
        "updated": state.updated - fleet.clock.start,
    }
    assert set(want) <= set(got), f"{where}: unknown {sorted(set(want) - set(got))}"
    assert {key: got[key] for key in want} == dict(want), where
