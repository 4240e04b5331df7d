"""A backup action from the CLI is recorded as a run: its own hash-chained journal and run index
row (so `runs`, `report` and `audit verify` know it), its backup events, a recap whose status
follows the one outcome ladder, secrets redacted, and an interrupted action recorded as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvisctl.app.backup_journal import ActionRequest, backup_action
from jarvisctl.app.queries import RunFilter, recent_runs, run_detail
from jarvisctl.config.project import load_project
from jarvisctl.core.backup_events import BackupStoreCheck, BackupVerify
from jarvisctl.core.secrets import SecretValues
from jarvisctl.record.audit import iter_records
from jarvisctl.render.reports.load import load_document

SECRET = "r3stic-pa55-Zq9"


def verified(snapshot: str, ok: bool, problem: str | None = None) -> BackupVerify:
    state = "verified" if ok else "unusable"
    return BackupVerify("etc", "local", snapshot, "checksum", ok, state, problem, 0.25)


def test_an_action_is_a_run_with_its_events_and_verdict(tmp_path: Path) -> None:
    project = load_project(start=tmp_path)
    request = ActionRequest(("backups", "verify", "--all"), ("web1", "db1"))
    with backup_action(project, request, SecretValues()) as log:
        log.emit(verified("s-1", True), "web1")
        log.outcome("web1", "ok")
        log.emit(verified("s-2", False, "/etc/app.conf: sha256 differs"), "db1")
        log.outcome("db1", "failed", "s-2: /etc/app.conf: sha256 differs")
        log.emit(BackupStoreCheck("local", (), 0.1), None)
        log.outcome("store local", "ok")

    (entry,) = recent_runs(project, RunFilter())
    assert entry.run_id == log.run_id and entry.shown_status == "not_ok"
    assert entry.hosts == ("db1", "web1") and entry.source == "cli" and entry.mode == "run"
    assert dict(entry.counts) == {"ok": 2, "failed": 1}
    detail = run_detail(project, log.run_id)
    assert detail.verification.intact and detail.verification.complete

    content = detail.journal.read_bytes()
    kinds = [(r.kind, r.host) for r in iter_records(content)]
    assert kinds == [
        ("run_started", None),
        ("backup_verify", "web1"),
        ("backup_verify", "db1"),
        ("backup_store_check", None),
        ("run_finished", None),
    ]
    document = load_document(project.state_dir, log.run_id, history=0)
    assert document.status == "not_ok"
    assert document.announcement["arguments"] == ["backups", "verify", "--all"]
    sections = {h.host: (h.play, h.outcome, h.error) for h in document.hosts}
    assert sections["db1"] == ("backups", "failed", "s-2: /etc/app.conf: sha256 differs")
    assert sections["web1"] == ("backups", "ok", "")


@pytest.mark.parametrize(
    ("counts", "status"),
    [
        (("ok",), "ok"),
        (("ok", "failed"), "not_ok"),
        (("failed", "unreachable"), "unreachable"),
        (("skipped",), "skipped"),
    ],
)
def test_the_status_follows_the_outcome_ladder(
    tmp_path: Path, counts: tuple[str, ...], status: str
) -> None:
    project = load_project(start=tmp_path)
    with backup_action(project, ActionRequest(("backups",), ("web1",)), SecretValues()) as log:
        for count in counts:
            log.outcome("web1", count, f"it was {count}")
    (entry,) = recent_runs(project, RunFilter())
    assert entry.shown_status == status


def test_a_check_mode_action_says_so(tmp_path: Path) -> None:
    project = load_project(start=tmp_path)
    request = ActionRequest(("backups", "prune", "--dry-run"), ("web1",), check=True)
    with backup_action(project, request, SecretValues()) as log:
        log.outcome("web1", "ok")
    assert run_detail(project, log.run_id).entry.mode == "check"


def test_secrets_are_redacted_from_the_journal(tmp_path: Path) -> None:
    project = load_project(start=tmp_path)
    secrets = SecretValues()
    secrets.add(SECRET)
    with backup_action(project, ActionRequest(("backups",), ("web1",)), secrets) as log:
        log.emit(BackupStoreCheck("offsite", (f"restic: wrong password {SECRET}",), 1.0), None)
        log.outcome("store offsite", "failed", f"wrong password {SECRET}")
    content = run_detail(project, log.run_id).journal.read_bytes()
    assert SECRET.encode() not in content and b"wrong password ***" in content


def test_an_interrupted_action_is_recorded_as_interrupted(tmp_path: Path) -> None:
    project = load_project(start=tmp_path)
    request = ActionRequest(("backups",), ("web1",))
    with pytest.raises(KeyboardInterrupt), backup_action(project, request, SecretValues()) as log:
        log.emit(verified("s-1", True), "web1")
        raise KeyboardInterrupt
    (entry,) = recent_runs(project, RunFilter())
    assert entry.shown_status == "interrupted"
    detail = run_detail(project, log.run_id)
    assert detail.verification.intact and not detail.verification.complete
