"""A run's backups in its documents, folded from the journal's backup records: the run/v2 JSON
(validated by its schema), Markdown, HTML and JUnit. The take, its verification and its pruning
are one entry; a failure at any of them makes the backup failed and the host failed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema

from jarvisctl.core.backup_events import (
    Backup,
    BackupOutcome,
    BackupPrune,
    BackupRestore,
    BackupVerify,
)
from jarvisctl.core.events import Event, NullSink, Payload
from jarvisctl.core.results import BackupNote, HostRun, Outcome, RunReport
from jarvisctl.record.recording import record_run
from jarvisctl.render.reports.load import load_document
from jarvisctl.render.reports.render import render
from jarvisctl.render.run_json import render_run_json
from jarvisctl.render.run_text import render_recap
from tests.events import connected, finished, raw

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/run.schema.json").read_text())
RUN = "20261203T120000Z-0c0c0c"
MIB = 1 << 20


def taken(name: str, snapshot: str) -> Backup:
    return Backup(name, "local", "taken", "paths", ("/etc/app",), snapshot, 12, 3 * MIB, MIB, 1.5)


def verified(name: str, snapshot: str, ok: bool = True) -> BackupVerify:
    problem = None if ok else "/etc/app/a.conf: sha256 differs from the manifest"
    state = "verified" if ok else "unusable"
    return BackupVerify(name, "local", snapshot, "restore", ok, state, problem, 0.4)


# host -> the records of its backups, in the order the engine emits them
HOSTS: dict[str, list[Payload]] = {
    "good": [
        taken("etc", "s1"),
        verified("etc", "s1"),
        BackupPrune("etc", "local", ("s1", "s0"), ("old1", "old2"), {"s1": "last", "s0": "last"}),
    ],
    "corrupt": [taken("etc", "s2"), verified("etc", "s2", ok=False)],
    "prunefail": [
        taken("etc", "s3"),
        verified("etc", "s3"),
        BackupPrune("etc", "local", (), (), {}, error="store: permission denied"),
    ],
    "takefail": [
        Backup(
            "db",
            "local",
            "failed",
            "command",
            ("pg_dump app",),
            reason="'pg_dump app' exited 1",
            stage="take",
        )
    ],
    "stopped": [Backup("etc", "local", "interrupted", "paths", ("/etc",), reason="run stopped")],
    "checkmode": [Backup("etc", "local", "skipped", "paths", ("/etc",), reason="check mode")],
}
OUTCOMES = {"good": "ok", "corrupt": "failed", "prunefail": "failed", "takefail": "failed"}
OUTCOMES |= {"stopped": "interrupted", "checkmode": "ok"}


def journal(state_dir: Path, *, finish: bool = True) -> None:
    with record_run(state_dir, RUN, frozenset(), NullSink()) as recording:
        emit = recording.events.emit
        emit(raw("run_started", data={"run_id": RUN, "mode": "run", "hosts": list(HOSTS)}))
        for host, payloads in HOSTS.items():
            emit(connected(host, "p", f"ssh {host}"))
            for payload in payloads:
                emit(Event(payload, host, "p"))
        if finish:
            hosts = [
                {"host": h, "play": "p", "outcome": o, "seconds": 1.0, "error": ""}
                for h, o in OUTCOMES.items()
            ]
            recap = {h: {o: int(o != "ok")} for h, o in OUTCOMES.items()}
            emit(finished(recap, hosts, run_id=RUN))


def document_json(state_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render_run_json(load_document(state_dir, RUN)))
    return document


def backups_by_host(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["host"]: h["backups"][0] for h in document["hosts"]}


def test_the_json_has_each_hosts_backups_and_validates(tmp_path: Path) -> None:
    journal(tmp_path)
    document = document_json(tmp_path)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document)) == []
    b = backups_by_host(document)
    good = b["good"]
    assert (good["outcome"], good["snapshot"], good["files"], good["bytes"]) == (
        "taken",
        "s1",
        12,
        3 * MIB,
    )
    assert good["verify"] == {
        "mode": "restore",
        "ok": True,
        "state": "verified",
        "problem": None,
        "seconds": 0.4,
    }
    assert good["prune"]["forgotten"] == ["old1", "old2"] and good["prune"]["rules"]["s1"] == "last"
    corrupt = b["corrupt"]
    assert (corrupt["outcome"], corrupt["stage"], corrupt["prune"]) == ("failed", "verify", None)
    assert "a.conf: sha256 differs" in corrupt["reason"]
    assert (b["prunefail"]["outcome"], b["prunefail"]["stage"]) == ("failed", "prune")
    assert (b["takefail"]["outcome"], b["takefail"]["stage"]) == ("failed", "take")
    assert b["takefail"]["snapshot"] is None and b["takefail"]["verify"] is None
    assert b["stopped"]["outcome"] == "interrupted" and b["checkmode"]["outcome"] == "skipped"
    assert document["status"] == "interrupted"  # a host was interrupted: it outranks not_ok


def test_the_schema_backup_outcomes_are_the_codes() -> None:
    outcome = SCHEMA["$defs"]["backup"]["properties"]["outcome"]["enum"]
    assert set(outcome) == {o.value for o in BackupOutcome}


def test_without_run_finished_a_failed_backup_makes_the_host_failed(tmp_path: Path) -> None:
    journal(tmp_path, finish=False)
    document = document_json(tmp_path)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document)) == []
    hosts = {h["host"]: h for h in document["hosts"]}
    assert hosts["corrupt"]["outcome"] == "failed"
    assert hosts["corrupt"]["error"].startswith("backup 'etc': verification (restore) failed")
    assert hosts["good"]["outcome"] == "ok" and hosts["takefail"]["outcome"] == "failed"


def test_markdown_html_and_junit_show_each_backup(tmp_path: Path) -> None:
    journal(tmp_path)
    document = load_document(tmp_path, RUN)
    markdown = render(document, "md")
    assert (
        "- etc → local: **taken**, taken 3.0 MiB (1.0 MiB stored), 12 files, 1.50s, "
        "verified (restore), pruned 2, snapshot s1"
    ) in markdown
    assert "- db → local: **failed**, failed at take: 'pg_dump app' exited 1" in markdown
    html = render(document, "html")
    assert 'data-backup="etc" data-outcome="failed"' in html and "NOT verified (restore)" in html
    junit = ET.fromstring(render(document, "junit"))
    cases = {(case.get("classname"), case.get("name")): case for case in junit.iter("testcase")}
    assert list(cases[("p.good", "backup etc")]) == []  # passed
    failure = cases[("p.corrupt", "backup etc")].find("failure")
    assert failure is not None and "a.conf" in (failure.get("message") or "")
    assert cases[("p.stopped", "backup etc")].find("error") is not None
    assert cases[("p.checkmode", "backup etc")].find("skipped") is not None


def test_the_run_text_has_a_line_per_backup() -> None:
    good = BackupNote("etc", "local", "taken", "s1", 12, 3 * MIB, MIB, 1.5, "restore", True, 2)
    bad = BackupNote("db", "offsite", "failed", stage="take", reason="'pg_dump' exited 1\nmore")
    corrupt = BackupNote(
        "etc", "local", "failed", "s2", 3, 10, 10, 0.1, "checksum", False, None, "verify", "bad"
    )
    at = datetime(2026, 12, 3, tzinfo=timezone.utc)
    hosts = (
        HostRun("h1", "p", "ssh h1", Outcome.OK, backups=(good,)),
        HostRun("h2", "p", "ssh h2", Outcome.FAILED, backups=(bad, corrupt)),
    )
    text = render_recap(RunReport("r", "run", at, at, hosts))
    assert text.split("BACKUPS\n")[1].splitlines() == [
        "  h1  etc -> local: taken 3.0 MiB (1.0 MiB stored), 12 files, 1.50s, verified (restore),"
        " pruned 2, snapshot s1",
        "  h2  db -> offsite: FAILED at take: 'pg_dump' exited 1",
        "  h2  etc -> local: FAILED at verify: bad; taken 10 B (10 B stored), 3 files, 0.10s,"
        " NOT verified (checksum), snapshot s2",
    ]


ACTION_RUN = "20261203T130000Z-0d0d0d"


def test_a_backup_action_from_the_cli_is_in_its_runs_report(tmp_path: Path) -> None:
    """`backups verify|prune|restore` journal their events with the host and no play
    (app/backup_journal.py): each is an action of the host's 'backups' session."""
    restored = BackupRestore("etc", "local", "s1", "/srv/back", True, True, 12, 3, 0.8)
    with record_run(tmp_path, ACTION_RUN, frozenset(), NullSink()) as recording:
        emit = recording.events.emit
        started = {"run_id": ACTION_RUN, "mode": "run", "hosts": ["h1"]}
        emit(raw("run_started", data=started | {"arguments": ["backups", "verify", "--all"]}))
        emit(Event(verified("etc", "s2", ok=False), "h1"))
        emit(Event(BackupPrune("etc", "local", ("s1",), ("s0",), {"s1": "last"}, True), "h1"))
        emit(Event(restored, "h1"))
        outcome = {"host": "h1", "play": "backups", "outcome": "failed", "seconds": 1.0}
        emit(
            finished({"h1": {"ok": 2, "failed": 1}}, [outcome | {"error": "s2"}], run_id=ACTION_RUN)
        )
    document = load_document(tmp_path, ACTION_RUN)
    data = json.loads(render_run_json(document))
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    (host,) = data["hosts"]
    assert (host["play"], host["outcome"], host["backups"]) == ("backups", "failed", [])
    actions = [(a["action"], a["ok"], a["summary"]) for a in host["backup_actions"]]
    assert actions == [
        (
            "verify",
            False,
            "verify (restore) of s2: FAILED: /etc/app/a.conf: sha256 differs from the manifest",
        ),
        ("prune", True, "prune (dry run: nothing deleted): kept 1, forgot 1"),
        (
            "restore",
            True,
            "restore of s1 to /srv/back (check: nothing written): 3 of 12 files would change",
        ),
    ]
    assert host["backup_actions"][2]["record"]["changed"] == 3
    assert "- etc (local): **failed**, verify (restore) of s2: FAILED" in render(document, "md")
    assert 'data-action="restore" data-ok="true"' in render(document, "html")
    junit = ET.fromstring(render(document, "junit"))
    failed = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
    assert failed == ["verify etc"]
