"""A run's check is one journal record: its status, and the command that measured it (its
exit code, output tails, digest and time); when the host's session fails before its checks
end, what ran is still journaled, as `command` records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jarvisctl.core.errors import StoreError
from jarvisctl.record.audit import Verification
from jarvisctl.render.reports.document import build_document
from tests.unit.engine.fleet import Fleet

PLAY = {
    "checks": [
        {"name": "load", "use": "command", "with": {"command": "cat load"}, "warn": 5},
        {"name": "broken", "use": "command", "with": {"command": "cat broken"}},
    ]
}
ANSWERS = {"h1": {"cat load": "7", "cat broken": {"stdout": "", "stderr": "no such", "exit": 3}}}


def test_each_check_s_record_carries_its_command(tmp_path: Path) -> None:
    step = Fleet.create(tmp_path, ("h1",), PLAY).run(ANSWERS)
    kinds = [r.kind for r in step.records]
    assert "command" not in kinds and kinds.count("check") == 2
    checks = {r.data["check"]: r.data for r in step.records if r.kind == "check"}
    load, broken = checks["load"], checks["broken"]
    assert (load["status"], load["value"], load["command"]) == ("warning", 7, "cat load")
    assert (load["exit_code"], load["stdout_tail"], load["stdout_bytes"]) == (0, "7\n", 2)
    assert load["digest"].startswith("sha256:") and load["seconds"] is not None
    assert (broken["exit_code"], broken["stderr_tail"]) == (3, "no such")
    assert "purpose" not in load  # a run's check: the record's kind says it


def test_the_report_reads_the_command_from_the_check_s_record(tmp_path: Path) -> None:
    step = Fleet.create(tmp_path, ("h1",), PLAY).run(ANSWERS)
    done = Verification("r", len(step.records), "", complete=True)
    (host,) = build_document(step.records, lambda: done).hosts
    entries: dict[str, Any] = {c.name: c for c in host.checks}
    assert (entries["load"].command, entries["load"].exit_code) == ("cat load", 0)
    assert entries["broken"].stderr_tail == "no such"
    assert entries["load"].digest and entries["load"].digest.startswith("sha256:")


def test_commands_that_ran_are_journaled_when_the_session_fails_after_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = Fleet.create(tmp_path, ("h1",), PLAY)

    def refused(*args: object) -> None:
        raise StoreError("the state store is full")

    monkeypatch.setattr(fleet.store.checks, "update_host", refused)
    step = fleet.run(ANSWERS)
    commands = {r.data["check"]: r.data for r in step.records if r.kind == "command"}
    assert set(commands) == {"load", "broken"}
    assert (commands["load"]["purpose"], commands["load"]["exit_code"]) == ("checks", 0)
    assert not [r for r in step.records if r.kind == "check"]
    assert [r.kind for r in step.records if r.kind.startswith("host_")][-1] == "host_failed"
