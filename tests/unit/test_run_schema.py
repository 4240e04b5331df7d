"""One JSON form of a run (jarvisctl.run/v2), described by render/schemas/run.schema.json:
`jarvisctl run --json` and `jarvisctl report RUN_ID --format json` serialize the same document
with the same function. Every outcome, status, remediation outcome and perfdata item a journal
can hold validates, an incomplete journal too; the schema's enumerations are the code's; and for
a real run, what `run --json` printed is exactly what `report last --format json` gives."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from jarvisctl.core.events import (
    CHECK,
    CIRCUIT_OPEN,
    COMMAND,
    HOST_CONNECTED,
    REMEDIATION,
    RUN_FINISHED,
    RUN_STARTED,
    NullSink,
)
from jarvisctl.core.results import Attempt, Outcome, PerfDatum, RunStatus, Status
from jarvisctl.record.recording import record_run
from jarvisctl.render import run_json
from jarvisctl.render.reports.load import load_document
from jarvisctl.render.reports.render import render
from jarvisctl.render.run_json import SCHEMA_ID, render_run_json
from tests.events import raw

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/run.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
PERF = PerfDatum("time", 0.01, "s", "1", "2", 0.0, None).as_record()
RUN = "20261203T120000Z-0a0b0c"


def emit_every_kind_of_host(state_dir: Path, *, interrupted: bool, finish: bool = True) -> None:
    """A journal with a host per outcome, each with a check per status and a remediation per
    attempt outcome, as a run records them."""
    hosts = [f"h{i}" for i, _ in enumerate(Outcome)]
    with record_run(state_dir, RUN, frozenset(), NullSink()) as recording:
        emit = recording.events.emit
        started = {"run_id": RUN, "mode": "run", "source": "cli", "hosts": hosts}
        emit(raw(RUN_STARTED, data=started | {"playbooks": {"p.yml": None}}))
        for host in hosts:
            emit(raw(HOST_CONNECTED, host, "p", {"address": f"ssh {host}", "host_key": "k"}))
            for status in Status:
                command = {"purpose": "checks", "check": status.value, "command": "check_disk"}
                emit(raw(COMMAND, host, "p", command | {"exit_code": 0, "digest": "sha256:x"}))
                check = {"check": status.value, "kind": "nagios", "status": status.value}
                check |= {"raw_status": "critical", "value": 42.0, "unit": "%", "source": "command"}
                emit(raw(CHECK, host, "p", check | {"perfdata": [PERF]}))
            for attempt in Attempt:
                note = {"check": "critical", "use": "clean", "rung": 1, "outcome": attempt.value}
                note |= {"reason": "because", "commands": ["rm x"], "exit_codes": [0, None]}
                note |= {"verified_value": 1.0, "verified_status": "ok", "seconds": 0.5}
                emit(raw(REMEDIATION, host, "p", note | {"verified_perfdata": [PERF]}))
        emit(raw(CIRCUIT_OPEN, data={"play": "p", "check": "critical", "hosts": hosts}))
        if finish:
            outcomes = [
                {"host": host, "play": "p", "outcome": outcome.value, "seconds": 0.5}
                for host, outcome in zip(hosts, Outcome, strict=True)
            ]
            recap = {host: {"critical": 1} for host in hosts}
            finished = {"interrupted": interrupted, "recap": recap, "hosts": outcomes}
            emit(raw(RUN_FINISHED, data=finished | {"seconds": 1.0}))


def errors(document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in VALIDATOR.iter_errors(document)
    ]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema"]["const"] == SCHEMA_ID == "jarvisctl.run/v2"


def test_the_schema_enumerations_are_the_codes() -> None:
    defs = SCHEMA["$defs"]
    statuses = {s.value for s in Status}
    assert set(defs["host"]["properties"]["outcome"]["enum"]) == {o.value for o in Outcome}
    assert set(SCHEMA["properties"]["status"]["enum"]) == {s.value for s in RunStatus} | {
        "incomplete"
    }
    for name in ("status", "initial_status", "raw_status"):
        assert set(defs["check"]["properties"][name]["enum"]) == statuses
    assert set(defs["check"]["properties"]["previous_status"]["enum"]) == statuses | {None}
    assert set(defs["remediation"]["properties"]["outcome"]["enum"]) == {a.value for a in Attempt}


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_run_with_every_outcome_validates(tmp_path: Path, interrupted: bool) -> None:
    emit_every_kind_of_host(tmp_path, interrupted=interrupted)
    document = json.loads(render_run_json(load_document(tmp_path, RUN)))
    assert errors(document) == []
    assert {h["outcome"] for h in document["hosts"]} == {o.value for o in Outcome}
    assert document["status"] == ("interrupted" if interrupted else "not_ok")
    remediations = document["hosts"][0]["remediations"]
    assert {r["outcome"] for r in remediations} == {a.value for a in Attempt}
    assert remediations[0]["verified_perfdata"] == [PERF]


def test_an_incomplete_journal_validates(tmp_path: Path) -> None:
    emit_every_kind_of_host(tmp_path, interrupted=False, finish=False)
    document = json.loads(render_run_json(load_document(tmp_path, RUN)))
    assert errors(document) == []
    assert (document["status"], document["complete"], document["finished"]) == (
        "incomplete",
        False,
        None,
    )


def test_a_document_that_breaks_the_contract_does_not_validate(tmp_path: Path) -> None:
    emit_every_kind_of_host(tmp_path, interrupted=False)
    document = json.loads(render_run_json(load_document(tmp_path, RUN)))
    document["hosts"][0]["outcome"] = "green"
    del document["hosts"][1]["checks"][0]["status"]
    assert len(errors(document)) == 2


PLAYBOOK = """\
- name: quick
  hosts: localhost
  checks:
    - {{name: level, use: command, with: {{command: 'echo 95'}}, warn: 80, crit: 90}}
    - {{name: up, use: command, with: {{command: 'echo 1'}}}}
    - name: flag
      use: command
      with: {{command: 'cat {flag}'}}
      crit: 1
      remediate:
        - use: run
          with: {{commands: ['echo 0 > {flag}']}}
          settle: 0s
"""


def run_json_project(root: Path) -> None:
    (root / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
    (root / "inventory.yml").write_text(
        "all:\n  hosts:\n    localhost: {ansible_connection: local}\n"
    )
    (root / "play.yml").write_text(PLAYBOOK.format(flag=root / "flag.txt"))


def jarvisctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_json_is_the_document_report_gives_later(tmp_path: Path) -> None:
    run_json_project(tmp_path)
    (tmp_path / "flag.txt").write_text("0\n")
    assert jarvisctl(tmp_path, "run", "play.yml").returncode == 1  # history: an earlier run
    (tmp_path / "flag.txt").write_text("5\n")  # critical, until its remediation resets it
    done = jarvisctl(tmp_path, "run", "--json", "play.yml")
    assert done.returncode == 1, done.stderr  # one check is critical
    printed = json.loads(done.stdout)
    assert errors(printed) == []
    later = jarvisctl(tmp_path, "report", "last", "--format", "json")
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout) == printed
    assert later.stdout == done.stdout  # the same serializer: the same text
    (host,) = printed["hosts"]
    checks = {c["name"]: c for c in host["checks"]}
    assert [c["status"] for c in host["checks"]] == ["critical", "ok", "ok"]  # failing first
    assert (checks["flag"]["initial_status"], checks["flag"]["status"]) == ("critical", "ok")
    assert "history" not in checks["level"]  # other runs' values: see the README
    assert checks["up"]["source"] == "command" and checks["level"]["raw_status"] == "critical"
    assert [r["outcome"] for r in host["remediations"]] == ["verified"]
    assert (printed["status"], host["outcome"], printed["complete"]) == ("not_ok", "changed", True)
    assert printed["summary"] == {
        "ok": 2,
        "critical": 1,
        "warning": 0,
        "unknown": 0,
        "changed": 1,
        "unreachable": 0,
        "failed": 0,
        "interrupted": 0,
        "skipped": 0,
        "hosts": 1,
        "checks": 3,
    }
    assert json.loads(render(load_document(tmp_path / ".jarvisctl", "last"), "json")) == printed


def test_written_in_pieces_it_is_the_same_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --json` writes the document in pieces of whole lines; the text is render_run_json's."""
    emit_every_kind_of_host(tmp_path, interrupted=False)
    document = load_document(tmp_path, RUN)
    monkeypatch.setattr(run_json, "PIECE", 40)
    written = WrittenLines()
    run_json.write_run_json(document, written)
    assert "".join(written.pieces) == run_json.render_run_json(document)
    assert len(written.pieces) > 10 and all(p.endswith("\n") for p in written.pieces)


class WrittenLines(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.pieces: list[str] = []

    def write(self, text: str) -> int:
        self.pieces.append(text)
        return len(text)
