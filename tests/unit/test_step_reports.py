"""A run's steps in its documents, folded from the journal's step records: the run/v2 JSON
(validated by its schema), Markdown, HTML and JUnit; and the console's line and recap."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema

from jarvisctl.core.events import Event, NullSink
from jarvisctl.core.results import HostRun, Outcome, RunReport, StepNote, StepOutcome
from jarvisctl.core.step_events import Step
from jarvisctl.record.recording import record_run
from jarvisctl.render.reports.load import load_document
from jarvisctl.render.reports.render import render
from jarvisctl.render.run_json import render_run_json
from jarvisctl.render.run_text import progress_line, render_recap
from tests.events import connected, finished, raw

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/run.schema.json").read_text())
RUN = "20261204T050000Z-0e0e0e"


def done(index: int, name: str, outcome: str, reason: str = "", attempts: int = 1) -> Step:
    return Step(
        phase="task",
        index=index,
        name=name,
        step_kind="run",
        outcome=outcome,
        reason=reason,
        attempts=attempts,
        commands=(f"{name} --now",),
        exit_codes=(0 if outcome != "failed" else 2,),
        seconds=0.5,
    )


HOSTS: dict[str, list[Step]] = {
    "good": [done(0, "clean", "changed", "applied", 2), done(1, "archive", "ok", "skipped: x")],
    "bad": [done(0, "clean", "failed", "'clean --now' exited 2"), done(1, "archive", "skipped")],
    "dry": [done(0, "clean", "would change", "would run 'clean --now'", 0)],
}
OUTCOMES = {"good": "changed", "bad": "failed", "dry": "ok"}


def journal(state_dir: Path, *, finish: bool = True) -> None:
    with record_run(state_dir, RUN, frozenset(), NullSink()) as recording:
        emit = recording.events.emit
        emit(raw("run_started", data={"run_id": RUN, "mode": "run", "hosts": list(HOSTS)}))
        for host, steps in HOSTS.items():
            emit(connected(host, "p", f"ssh {host}"))
            for payload in steps:
                emit(Event(payload, host, "p"))
        if finish:
            hosts = [
                {"host": h, "play": "p", "outcome": o, "seconds": 1.0, "error": ""}
                for h, o in OUTCOMES.items()
            ]
            recap = {h: {"changed": int(o == "changed")} for h, o in OUTCOMES.items()}
            emit(finished(recap, hosts, run_id=RUN))


def document_json(state_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render_run_json(load_document(state_dir, RUN)))
    return document


def test_the_json_has_each_hosts_steps_and_validates(tmp_path: Path) -> None:
    journal(tmp_path)
    document = document_json(tmp_path)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document)) == []
    steps = {h["host"]: h["steps"] for h in document["hosts"]}
    assert steps["good"][0] == {
        "phase": "task",
        "index": 0,
        "name": "clean",
        "kind": "run",
        "outcome": "changed",
        "reason": "applied",
        "attempts": 2,
        "commands": ["clean --now"],
        "exit_codes": [0],
        "seconds": 0.5,
        "rollout": "",
    }
    assert [s["outcome"] for s in steps["bad"]] == ["failed", "skipped"]


def test_the_schema_step_outcomes_are_the_codes() -> None:
    outcome = SCHEMA["$defs"]["step"]["properties"]["outcome"]["enum"]
    assert set(outcome) == {o.value for o in StepOutcome}


def test_without_run_finished_steps_make_the_host_changed_or_failed(tmp_path: Path) -> None:
    journal(tmp_path, finish=False)
    document = document_json(tmp_path)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document)) == []
    outcomes = {h["host"]: h["outcome"] for h in document["hosts"]}
    assert outcomes == OUTCOMES


def test_markdown_html_and_junit_show_each_step(tmp_path: Path) -> None:
    journal(tmp_path)
    document = load_document(tmp_path, RUN)
    markdown = render(document, "md")
    assert "- task 1 clean (run): **changed** (applied), 2 attempts, 0.50s" in markdown
    assert "- task 1 clean (run): **failed** ('clean --now' exited 2), 0.50s" in markdown
    html = render(document, "html")
    assert 'class="step" data-phase="task" data-outcome="would change"' in html
    assert '<span class="badge would-change">would change</span>' in html
    junit = ET.fromstring(render(document, "junit"))
    cases = {(case.get("classname"), case.get("name")): case for case in junit.iter("testcase")}
    assert list(cases[("p.good", "task 1 clean")]) == []  # passed
    failure = cases[("p.bad", "task 1 clean")].find("failure")
    assert failure is not None and failure.get("message") == "'clean --now' exited 2"
    assert "$ clean --now  (exit 2)" in (failure.text or "")
    assert cases[("p.bad", "task 2 archive")].find("skipped") is not None


def note(index: int, name: str, outcome: StepOutcome, reason: str) -> StepNote:
    return StepNote("task", index, name, "run", outcome, reason, 1, (name,), (0,), 0.2)


def test_the_console_counts_steps_and_the_recap_lists_them() -> None:
    changed = note(0, "clean", StepOutcome.CHANGED, "applied")
    kept = note(1, "archive", StepOutcome.OK, "skipped: creates /b.tgz holds")
    failed = note(0, "clean", StepOutcome.FAILED, "'clean' exited 2: no space\nmore")
    skipped = note(1, "archive", StepOutcome.SKIPPED, "after 'clean' failed")
    at = datetime(2026, 12, 4, tzinfo=timezone.utc)
    hosts = (
        HostRun("h1", "p", "ssh h1", Outcome.CHANGED, steps=(changed, kept), duration=1.0),
        HostRun("h2", "p", "ssh h2", Outcome.FAILED, steps=(failed, skipped), error="task"),
    )
    assert progress_line(hosts[0]) == (
        "h1  [p]  CHANGED  0 checks: none; 2 steps: 1 ok, 1 changed  1.00s"
    )
    report = RunReport("r", "run", at, at, hosts)
    assert report.recap()["h1"]["changed"] == 1
    text = render_recap(report)
    assert text.split("STEPS\n")[1].splitlines()[:4] == [
        "  h1  task 1 'clean': CHANGED  applied",
        "  h1  task 2 'archive': OK  skipped: creates /b.tgz holds",
        "  h2  task 1 'clean': FAILED  'clean' exited 2: no space",
        "  h2  task 2 'archive': SKIPPED  after 'clean' failed",
    ]
