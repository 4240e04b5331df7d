"""Reports rebuilt from a journal: remediations, unreachable and skipped hosts, JUnit choices,
the run index and the metrics file."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
from junitparser import Error, JUnitXml, Skipped

from jarvisctl.core.events import (
    CHECK,
    COMMAND,
    HOST_CONNECTED,
    HOST_UNREACHABLE,
    REMEDIATION,
    RUN_FINISHED,
    RUN_STARTED,
    Event,
)
from jarvisctl.record.history import find_run, list_runs
from jarvisctl.record.recording import record_run
from jarvisctl.render.metrics import metrics_text
from jarvisctl.render.reports.load import load_document
from jarvisctl.render.reports.render import render
from jarvisctl.store.sqlite.store import SqliteStore
from tests.events import raw

ROOT = Path(__file__).resolve().parents[2]
RUN = "20260102T030405Z-0a0b0c"
HOSTS = ["db1", "web1", "web2"]


def emit_run(state_dir: Path, *, finish: bool = True, secret: str = "pw-9876") -> None:
    with record_run(state_dir, RUN, frozenset({secret}), Collector()) as recording:
        emit = recording.events.emit
        emit(raw(RUN_STARTED, data={"run_id": RUN, "mode": "run", "hosts": HOSTS, "pid": 1}))
        emit(raw(HOST_CONNECTED, "web1", "p", {"address": "ssh web1:22", "host_key": "SHA256:k"}))
        emit(
            raw(
                COMMAND,
                "web1",
                "p",
                {"purpose": "checks", "check": "disk", "command": f"df {secret}", "exit_code": 0},
            )
        )
        emit(
            raw(
                CHECK,
                "web1",
                "p",
                {
                    "check": "disk",
                    "value": 95.0,
                    "unit": "%",
                    "status": "critical",
                    "reason": "95 crossed crit >= 90",
                },
            )
        )
        emit(raw(CHECK, "web1", "p", {"check": "load", "value": 0.5, "unit": "", "status": "ok"}))
        emit(
            raw(
                REMEDIATION,
                "web1",
                "p",
                {
                    "check": "disk",
                    "use": "vacuum_journal",
                    "rung": 1,
                    "outcome": "verified",
                    "reason": "recovered: 60%",
                    "verified_value": 60.0,
                    "verified_status": "ok",
                    "seconds": 2.5,
                },
            )
        )
        emit(
            raw(
                HOST_UNREACHABLE,
                "db1",
                "p",
                {"address": "ssh db1:22", "error": "connection refused"},
            )
        )
        if finish:
            recap = {"web1": {"ok": 2}, "db1": {"unreachable": 1}, "web2": {}}
            hosts = [
                {"host": "web1", "play": "p", "outcome": "changed", "seconds": 3.0, "error": ""},
                {
                    "host": "db1",
                    "play": "p",
                    "outcome": "unreachable",
                    "seconds": 1.0,
                    "error": "connection refused",
                },
                {
                    "host": "web2",
                    "play": "p",
                    "outcome": "skipped",
                    "seconds": 0.0,
                    "error": "interrupted before this host started",
                },
            ]
            emit(
                raw(
                    RUN_FINISHED,
                    data={"interrupted": False, "recap": recap, "hosts": hosts, "seconds": 4.0},
                )
            )


class Collector:
    def emit(self, event: Event) -> None:
        pass


def test_a_verified_remediation_makes_the_check_ok_and_the_host_changed(tmp_path: Path) -> None:
    emit_run(tmp_path)
    document = load_document(tmp_path, RUN)
    sections = {h.host: h for h in document.hosts}
    disk = sections["web1"].checks[0]
    assert (disk.name, disk.status, disk.initial_status, disk.value) == (
        "disk",
        "ok",
        "critical",
        60.0,
    )
    assert sections["web1"].outcome == "changed"
    assert sections["web1"].remediations[0].outcome == "verified"
    assert document.hosts[0].host == "db1"  # the unreachable host comes first
    assert document.status == "unreachable"


def test_the_json_report_validates_and_masks_the_secret(tmp_path: Path) -> None:
    emit_run(tmp_path)
    text = render(load_document(tmp_path, RUN), "json")
    assert "pw-9876" not in text and "df ***" in text
    jsonschema.validate(
        json.loads(text),
        json.loads((ROOT / "jarvisctl/render/schemas/run.schema.json").read_text()),
    )


def test_junit_unreachable_is_an_error_and_skipped_hosts_are_skipped(tmp_path: Path) -> None:
    emit_run(tmp_path)
    (tmp_path / "r.xml").write_text(render(load_document(tmp_path, RUN), "junit"))
    suites = {
        s.name: {c.name: c.result for c in s} for s in JUnitXml.fromfile(str(tmp_path / "r.xml"))
    }
    assert isinstance(suites["db1 [p]"]["session"][0], Error)
    assert isinstance(suites["web2 [p]"]["session"][0], Skipped)
    assert suites["web1 [p]"]["disk"] == [] and suites["web1 [p]"]["load"] == []


def test_markdown_and_html_show_remediations_and_durations(tmp_path: Path) -> None:
    emit_run(tmp_path)
    document = load_document(tmp_path, RUN)
    markdown, html = render(document, "md"), render(document, "html")
    assert "- disk → 1. vacuum_journal: **verified** (recovered: 60%), 2.50s" in markdown
    assert "connection refused" in markdown and "| duration | 4.00s |" in markdown
    assert "<td>1. vacuum_journal</td><td>verified</td>" in html


def test_the_run_index_records_start_finish_and_hosts(tmp_path: Path) -> None:
    emit_run(tmp_path)
    store = SqliteStore(tmp_path / "state.db")
    entry = find_run(store, RUN[:12])
    assert (entry.status, entry.hosts, entry.records) == ("unreachable", tuple(HOSTS), 8)
    assert entry.counts == {"ok": 2, "unreachable": 1}
    assert list_runs(store, host="nohost") == []
    assert [e.run_id for e in list_runs(store, host="db1", since=time.time() - 60)] == [RUN]


def test_an_unfinished_run_of_a_dead_process_is_incomplete(tmp_path: Path) -> None:
    emit_run(tmp_path, finish=False)
    entry = find_run(SqliteStore(tmp_path / "state.db"), RUN)
    assert entry.status == "running" and entry.pid == 1
    dead = subprocess.Popen(["true"])
    dead.wait()
    with SqliteStore(tmp_path / "state.db").file.connect() as db:
        db.execute("UPDATE run_index SET pid = ?", (dead.pid,))
    assert find_run(SqliteStore(tmp_path / "state.db"), RUN).shown_status == "incomplete"
    assert load_document(tmp_path, RUN).status == "incomplete"


def test_an_exception_marks_the_run_interrupted(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), record_run(tmp_path, RUN, frozenset(), Collector()) as rec:
        rec.events.emit(raw(RUN_STARTED, data={"run_id": RUN, "hosts": []}))
        raise RuntimeError("boom")
    assert find_run(SqliteStore(tmp_path / "state.db"), RUN).status == "interrupted"


def test_metrics_for_an_unreachable_host_pass_promtool(tmp_path: Path) -> None:
    emit_run(tmp_path)
    text = metrics_text(load_document(tmp_path, RUN), "nightly")
    assert 'jarvisctl_host_reachable{host="db1",source="nightly"} 0.0' in text
    assert 'jarvisctl_host_reachable{host="web1",source="nightly"} 1.0' in text
    assert 'jarvisctl_host_reachable{host="web2"' not in text  # skipped: never tried
    skipped = 'jarvisctl_host_outcome{host="web2",outcome="skipped",play="p",source="nightly"} 1.0'
    assert skipped in text
    assert 'jarvisctl_run_hosts{outcome="skipped",source="nightly"} 1.0' in text
    value = 'jarvisctl_check_value{check="disk",host="web1",play="p",source="nightly",unit="%"}'
    assert f"{value} 60.0" in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package: prometheus)")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
