"""`jarvisctl backups verify` on a real project: snapshots taken for real, verified by the
command as a user runs it, marked verified or unusable (naming the file), each store's own check
with --all, and each verification found afterwards as a run: `runs`, `report` and `audit
verify` show it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from jarvisctl.store.snapshots import SnapshotState
from tests.integration.backups_project import (
    SCHEMA,
    Project,
    make_project,
    stored_file,
    taken_daily,
)
from tests.restic_repo import quick_repository


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def test_verify_marks_the_snapshot_and_is_recorded_as_a_run(project: Project) -> None:
    snapshot = project.take("web1")
    done = project.jarvisctl("backups", "verify", snapshot.id[:24])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"verified  {snapshot.id}  web1/files  (checksum, ")
    (after,) = project.snapshots()
    assert after.state is SnapshotState.VERIFIED and after.verified_at is not None

    (run,) = project.runs()
    assert run["status"] == "ok" and run["hosts"] == ["web1"] and run["source"] == "cli"
    assert f"recorded as run {run['run_id']}" in done.stderr
    audit = project.jarvisctl("audit", "verify", run["run_id"])
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = project.jarvisctl("report", run["run_id"], "--format", "json")
    assert report.returncode == 0, report.stderr
    document = json.loads(report.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    assert document["status"] == "ok" and document["arguments"][:2] == ["backups", "verify"]
    assert [(h["host"], h["play"], h["outcome"]) for h in document["hosts"]] == [
        ("web1", "backups", "ok")
    ]
    journal = (project.state_dir / "runs" / f"{run['run_id']}.jsonl").read_text()
    (record,) = [json.loads(line) for line in journal.splitlines() if '"backup_verify"' in line]
    assert record["host"] == "web1"
    assert record["data"]["snapshot"] == snapshot.id and record["data"]["state"] == "verified"


def test_a_flipped_byte_fails_verify_naming_the_file(project: Project) -> None:
    snapshot = project.take("web1")
    data = stored_file(project, snapshot)
    content = bytearray(data.read_bytes())
    at = content.index(b"web1 says hello")
    content[at] ^= 0x01
    data.write_bytes(bytes(content))

    done = project.jarvisctl("backups", "verify", snapshot.id)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"UNUSABLE  {snapshot.id}  web1/files: ")
    assert "/a.txt" in done.stdout
    (after,) = project.snapshots()
    assert after.state is SnapshotState.UNUSABLE and "/a.txt" in (after.problem or "")
    listed = project.jarvisctl("backups", "list")
    assert "unusable: " in listed.stdout and "/a.txt" in listed.stdout
    (run,) = project.runs()
    assert run["status"] == "not_ok" and run["counts"] == {"failed": 1}


def test_verify_all_restores_each_snapshot_and_checks_the_stores(project: Project) -> None:
    first, second = project.take("web1"), project.take("db1")
    done = project.jarvisctl("backups", "verify", "--all", "--restore")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert {line.split()[1] for line in lines if line.startswith("verified")} == {
        first.id,
        second.id,
    }
    assert all("(restore, " in line for line in lines if line.startswith("verified"))
    assert "store local: intact" in lines

    stored_file(project, second).unlink()
    done = project.jarvisctl("backups", "verify", "--all")
    assert done.returncode == 1
    assert f"verified  {first.id}" in done.stdout
    assert "store local: PROBLEM: " in done.stdout and second.id in done.stdout
    (run, _) = project.runs()
    assert run["status"] == "not_ok" and sorted(run["hosts"]) == ["db1", "web1"]
    assert run["counts"] == {"ok": 1, "failed": 2}  # db1's snapshot, and the store
    journal = (project.state_dir / "runs" / f"{run['run_id']}.jsonl").read_text()
    records = [json.loads(line) for line in journal.splitlines()]
    (check,) = [r for r in records if r["kind"] == "backup_store_check"]
    assert check["host"] is None and check["data"]["store"] == "local"
    assert second.id in check["data"]["problems"][0]
    document = json.loads(project.jarvisctl("report", run["run_id"], "--format", "json").stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    failed = {h["host"]: h["error"] for h in document["hosts"] if h["outcome"] == "failed"}
    assert set(failed) == {"db1", "store local"} and second.id in failed["store local"]


def test_verify_arguments(project: Project) -> None:
    snapshot = project.take("web1")
    done = project.jarvisctl("backups", "verify")
    assert done.returncode == 2 and "give one SNAPSHOT" in done.stderr
    done = project.jarvisctl("backups", "verify", snapshot.id, "--all")
    assert done.returncode == 2 and f"give SNAPSHOT ({snapshot.id!r}) or --all, not both" in (
        done.stderr
    )
    done = project.jarvisctl("backups", "verify", "20991231")
    assert done.returncode == 2 and "no snapshot '20991231'" in done.stderr
    assert project.runs() == []  # nothing was done, so nothing is recorded


def test_sigterm_ends_a_verification_as_an_interrupted_run(project: Project) -> None:
    big = project.root.parent / "trees" / "web1" / "big.bin"
    with big.open("wb") as out:
        for _ in range(96):
            out.write(os.urandom(1024 * 1024))
    snapshot = project.take("web1")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    command = [sys.executable, "-m", "jarvisctl", "backups", "verify", snapshot.id, "--restore"]
    verifying = subprocess.Popen(
        command, cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not (project.state_dir / "runs").is_dir():  # the action has begun recording
        assert verifying.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    verifying.send_signal(signal.SIGTERM)
    _, stderr = verifying.communicate(timeout=60)
    assert verifying.returncode == 130, stderr
    assert b"interrupted" in stderr and b"Traceback" not in stderr
    (run,) = project.runs()
    assert run["status"] == "interrupted"
    (after,) = project.snapshots()
    assert after.state is SnapshotState.UNVERIFIED  # neither verified nor condemned
    assert not list(project.state_dir.glob(".verify-*"))  # the scratch directory is gone


RESTIC_PASSWORD = "r3st1c-S3cret-pw"


def test_a_restic_store_verifies_prunes_and_never_shows_its_password(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same actions on a restic repository (Debian's restic): the store's own check runs,
    and its password (from env()) is in no output and no journal."""
    monkeypatch.setenv("JV_RESTIC_PASSWORD", RESTIC_PASSWORD)
    (project.root / "jarvisctl.yml").write_text(
        "inventory: inventory.yml\nplaybooks: [site.yml]\nbackup_stores:\n"
        "  offsite: {type: restic, repository: repo,"
        " password: \"{{ env('JV_RESTIC_PASSWORD') }}\"}\n"
    )
    quick_repository(project.root / "repo", RESTIC_PASSWORD)  # tests/restic_repo.py
    playbook = (project.root / "site.yml").read_text()
    (project.root / "site.yml").write_text(playbook.replace("compress: none", "store: offsite"))
    newest_first = taken_daily(project, "web1", 4)
    assert {s.store for s in newest_first} == {"offsite"}

    done = project.jarvisctl("backups", "verify", "--all", "--restore")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "store offsite: intact" in done.stdout
    assert "store local" not in done.stdout  # the default store, which holds nothing
    pruned = project.jarvisctl("backups", "prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "web1 files (keep last 2, daily 3): 3 kept, 1 forgot" in pruned.stdout
    assert [s.id for s in project.snapshots("web1")] == [s.id for s in newest_first[:3]]
    again = project.jarvisctl("backups", "verify", "--all")
    assert again.returncode == 0, again.stdout + again.stderr  # restic check after the forget

    outputs = done.stdout + done.stderr + pruned.stdout + pruned.stderr + again.stdout
    journals = b"".join(p.read_bytes() for p in (project.state_dir / "runs").glob("*.jsonl"))
    assert RESTIC_PASSWORD not in outputs and RESTIC_PASSWORD.encode() not in journals
