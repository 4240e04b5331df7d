"""Backups that are proven restorable, end to end on real sshd hosts (issue 17, Must show):

- the issue's tree (nested directories, a symlink, an empty file, a name with spaces and a
  newline, a 50 MiB file, modes 0600/0755, a file owned by nobody) is backed up by `jarvisctl
  run`, verified by restore, deleted on the host, put back by `jarvisctl backups restore`, and
  is then identical on the host: `find -printf` (type, mode, owner, size, symlink target) and
  sha256sum of every file, read over ssh;
- the same round trip through a restic store (Debian's restic, a local repository);
- a `command` backup of a real database (`sqlite3 app.db .dump`), restored and loaded again.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.backup_hosts import (
    BIG_FILE,
    NEWLINE_NAME,
    Entry,
    build_tree,
    expected_paths,
    fingerprint,
    host_has,
    on_host,
)
from tests.e2e.backup_project import BackupProject, backup_results
from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

RESTIC_PASSWORD = "correct horse battery staple 17"


def tree_playbook(host: SshdHost, root: str, *, store: str | None = None) -> str:
    store_line = f"\n      store: {store}" if store else ""
    return f"""\
- name: keep
  hosts: {host.name}
  backups:
    - name: tree
      paths: [{json.dumps(root)}]
      keep: {{last: 3}}
      verify: restore{store_line}
"""


def host_dir(host: SshdHost, name: str) -> str:
    """A fresh path on the host for this test (the hosts share this machine's filesystem, so
    it lives under the host's own test directory)."""
    return str(host.directory / f"{name}-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def project(tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]) -> BackupProject:
    return BackupProject(tmp_path / "project", sshd_fleet)


def take(project: BackupProject, host: SshdHost, backup: str) -> dict[str, Any]:
    """Run the playbook on `host`; the one backup it reports, which must have been taken."""
    code, document, stderr = project.run("--limit", host.name)
    (entry,) = backup_results(document, host.name)
    assert entry["name"] == backup
    assert code == 0 and entry["outcome"] == "taken", (entry, stderr)
    return entry


def assert_manifest_matches(
    project: BackupProject, snapshot: str, root: str, before: dict[str, Entry]
) -> None:
    """The snapshot's manifest names every entry of the tree, with the host's own digests and
    modes: the controller read the tar stream right, newline in a name included."""
    files = {f["path"]: f for f in project.manifest(snapshot)}
    found = {(root + "/" + path).rstrip("/"): entry for path, entry in before.items()}
    assert set(files) == set(found)
    for path, entry in found.items():
        recorded = files[path]
        assert int(recorded["mode"], 8) == int(entry.mode, 8), path
        assert recorded["owner"] == entry.owner, path
        if entry.type == "f":
            assert (recorded["type"], recorded["sha256"]) == ("file", entry.sha256), path
            assert recorded["size"] == entry.size, path
        elif entry.type == "l":
            assert (recorded["type"], recorded["target"]) == ("symlink", entry.target), path


def round_trip(project: BackupProject, host: SshdHost, root: str, *, big: bool) -> dict[str, Any]:
    """Back up the tree at `root`, check the snapshot, delete the tree on the host, restore it
    with `backups restore`, and compare the host's fingerprints. Returns the snapshot."""
    build_tree(host, root, big=big)
    before = fingerprint(host, root)
    assert set(before) == expected_paths(big=big)

    entry = take(project, host, "tree")
    assert entry["verify"] == {
        "mode": "restore",
        "ok": True,
        "state": "verified",
        "problem": None,
        "seconds": entry["verify"]["seconds"],
    }
    (snapshot,) = project.snapshots(host.name, "tree")
    assert snapshot["id"] == entry["snapshot"] and snapshot["state"] == "verified"
    content = sum(e.size or 0 for e in before.values() if e.type == "f")
    assert snapshot["bytes"] == content
    assert_manifest_matches(project, snapshot["id"], root, before)

    on_host(host, f"rm -rf {shlex.quote(root)}")
    assert is_gone(host, root)
    restored = project.jarvisctl("backups", "restore", host.name, "tree")
    assert restored.returncode == 0, restored.stdout + restored.stderr

    after = fingerprint(host, root)
    differing = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not differing, [(p, before.get(p), after.get(p)) for p in differing]
    return snapshot


def is_gone(host: SshdHost, root: str) -> bool:
    return on_host(host, f"test -e {shlex.quote(root)} && echo there || echo gone") == b"gone\n"


def test_a_tree_round_trips_through_the_local_store(
    project: BackupProject, sshd_hosts: list[SshdHost]
) -> None:
    host = sshd_hosts[0]
    root = host_dir(host, "srv app")  # a space in the backed-up path itself
    project.write(tree_playbook(host, root))
    snapshot = round_trip(project, host, root, big=True)
    assert snapshot["store"] == "local"
    # the 50 MiB of random bytes went through whole (gzip cannot shrink them)
    assert snapshot["bytes"] > 50 * 1024 * 1024
    assert snapshot["stored_bytes"] > 50 * 1024 * 1024
    assert f"{root}/data/{NEWLINE_NAME}" in {f["path"] for f in project.manifest(snapshot["id"])}
    assert f"{root}/{BIG_FILE}" in {f["path"] for f in project.manifest(snapshot["id"])}


def restic_available() -> str | None:
    return shutil.which("restic")


def test_a_tree_round_trips_through_a_restic_store(
    project: BackupProject, sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    if restic_available() is None:
        pytest.skip("restic is not installed on this controller (scripts/test installs it)")
    host = sshd_hosts[1]
    repository = tmp_path / "restic-repo"
    project.stores = {
        "offsite": {
            "type": "restic",
            "repository": str(repository),
            "password": "{{ env('JARVIS_TEST_RESTIC_PASSWORD') }}",
        }
    }
    project.env = {"JARVIS_TEST_RESTIC_PASSWORD": RESTIC_PASSWORD}
    root = host_dir(host, "srv")
    project.write(tree_playbook(host, root, store="offsite"))
    snapshot = round_trip(project, host, root, big=False)
    assert snapshot["store"] == "offsite"

    # a real restic repository, readable by restic itself, holding exactly that snapshot
    listed = subprocess.run(
        ["restic", "-r", str(repository), "snapshots", "--json", "--no-lock"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RESTIC_PASSWORD": RESTIC_PASSWORD},
    )
    assert listed.returncode == 0, listed.stderr
    ids = {s["id"] for s in json.loads(listed.stdout)} | {
        s["short_id"] for s in json.loads(listed.stdout)
    }
    assert snapshot["location"] in ids or any(snapshot["location"].startswith(i) for i in ids)
    # encrypted: no file's text is in the repository as it was on the host
    marker = b"line 0 of etc/app.conf"
    for path in repository.rglob("*"):
        if path.is_file():
            assert marker not in path.read_bytes(), path
    # the password went nowhere it could be read
    for path in project.state_dir.rglob("*"):
        if path.is_file():
            assert RESTIC_PASSWORD.encode() not in path.read_bytes(), path


SQL = """\
CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL, weights BLOB, score REAL);
INSERT INTO models (name, weights, score) VALUES ('detector', x'00ff10', 0.93);
INSERT INTO models (name, weights, score) VALUES ('it''s a "quoted"
two-line name', NULL, -1.5);
CREATE INDEX models_by_name ON models (name);
"""
QUERY = "SELECT id, name, hex(weights), score FROM models ORDER BY id;"


def command_playbook(host: SshdHost, database: str) -> str:
    command = f"sqlite3 {shlex.quote(database)} .dump"
    return f"""\
- name: keep
  hosts: {host.name}
  backups:
    - name: app-db
      command: {json.dumps(command)}
      file: app.sql
      keep: {{last: 3}}
"""


def test_a_database_dump_is_restored_and_loads_again(
    project: BackupProject, sshd_hosts: list[SshdHost]
) -> None:
    host = sshd_hosts[2]
    data = host_dir(host, "db")
    database = f"{data}/app.db"
    project.write(command_playbook(host, database))
    if not host_has(host, "sqlite3"):
        # a host without sqlite3 (the bare PATH): the dump fails, and that is no snapshot
        code, document, _ = project.run("--limit", host.name)
        (entry,) = backup_results(document, host.name)
        assert code != 0 and entry["outcome"] == "failed", entry
        assert "sqlite3" in entry["reason"], entry
        assert project.snapshots(host.name) == []
        return
    q = shlex.quote
    on_host(host, f"mkdir -p {q(data)} && sqlite3 {q(database)} {q(SQL)}")
    rows = on_host(host, f"sqlite3 {q(database)} {q(QUERY)}")
    assert b"detector" in rows and b"quoted" in rows

    entry = take(project, host, "app-db")
    (snapshot,) = project.snapshots(host.name, "app-db")
    assert snapshot["id"] == entry["snapshot"] and snapshot["source"] == "command"
    dump = on_host(host, f"sqlite3 {q(database)} .dump")
    (recorded,) = project.manifest(snapshot["id"])
    assert recorded["size"] == len(dump)

    on_host(host, f"rm -f {q(database)}")  # the database is lost
    target = f"{data}/restored app.sql"  # a command backup's file is put AT --to
    restored = project.jarvisctl("backups", "restore", host.name, "app-db", "--to", target)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert on_host(host, f"cat {q(target)}") == dump
    on_host(host, f"sqlite3 {q(database)} < {q(target)}")
    assert on_host(host, f"sqlite3 {q(database)} {q(QUERY)}") == rows
