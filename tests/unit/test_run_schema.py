"""`jarvisctl run --json` is described by render/schemas/run.schema.json: every outcome, status,
remediation outcome and perfdata item a run can hold validates, the schema's enumerations are the
code's, and a real run's output validates too."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from jarvisctl.core.results import (
    Attempt,
    CheckResult,
    HostRun,
    Outcome,
    PerfDatum,
    RemediationNote,
    RunReport,
    RunStatus,
    Status,
)
from jarvisctl.render.run_json import SCHEMA_ID, render_run_json

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/run.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
PERF = PerfDatum("time", 0.01, "s", "1", "2", 0.0, None)


def check(status: Status) -> CheckResult:
    return CheckResult(
        "disk", "nagios", "check_disk", status, 42.0, "%", "why", 0, "out", "", perfdata=(PERF,)
    )


def every_kind_of_host() -> tuple[HostRun, ...]:
    notes = tuple(
        RemediationNote("disk", "clean", attempt, "because", ("rm x",), 1, (0,), check(Status.OK))
        for attempt in Attempt
    )
    checks = tuple(check(status) for status in Status)
    return tuple(
        HostRun(f"h{i}", "p", "ssh://h", outcome, checks, notes, "error", 0.5)
        for i, outcome in enumerate(Outcome)
    )


def errors(document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in VALIDATOR.iter_errors(document)
    ]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema"]["const"] == SCHEMA_ID


def test_the_schema_enumerations_are_the_codes() -> None:
    defs = SCHEMA["$defs"]
    assert set(defs["host"]["properties"]["outcome"]["enum"]) == {o.value for o in Outcome}
    assert set(SCHEMA["properties"]["status"]["enum"]) == {s.value for s in RunStatus}
    assert set(defs["check"]["properties"]["status"]["enum"]) == {s.value for s in Status}
    assert set(defs["remediation"]["properties"]["outcome"]["enum"]) == {a.value for a in Attempt}


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_run_with_every_outcome_validates(interrupted: bool) -> None:
    report = RunReport("r1", "run", NOW, NOW, every_kind_of_host(), interrupted, ("p.yml",))
    assert errors(json.loads(render_run_json(report))) == []


def test_a_document_that_breaks_the_contract_does_not_validate() -> None:
    report = RunReport("r1", "run", NOW, NOW, every_kind_of_host())
    document = json.loads(render_run_json(report))
    document["hosts"][0]["outcome"] = "green"
    del document["hosts"][1]["checks"][0]["status"]
    assert len(errors(document)) == 2


def test_a_real_runs_json_validates(tmp_path: Path) -> None:
    (tmp_path / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
    (tmp_path / "inventory.yml").write_text(
        "all:\n  hosts:\n    localhost: {ansible_connection: local}\n"
    )
    (tmp_path / "play.yml").write_text(
        "- name: quick\n  hosts: localhost\n  checks:\n"
        "    - {name: level, use: command, with: {command: 'echo 95'}, warn: 80, crit: 90}\n"
        "    - {name: up, use: command, with: {command: 'echo 1'}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "--json", "play.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr  # one check is critical
    document = json.loads(done.stdout)
    assert errors(document) == []
    assert [c["status"] for c in document["hosts"][0]["checks"]] == ["critical", "ok"]
