"""A stored snapshot corrupted by one flipped byte (issue 17, Must show): `jarvisctl backups
verify` fails and names the file whose content no longer matches, the snapshot is marked
unusable, the backup's freshness check (its `max_age`) turns CRITICAL, and `backups prune`
keeps the older good snapshot."""

from __future__ import annotations

import json
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.backup_hosts import build_tree, on_host
from tests.e2e.backup_project import BackupProject, backup_results
from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

FRESHNESS = "backup tree"  # the check a backup's max_age derives


def playbook(host: SshdHost, root: str, last: int) -> str:
    # compress: none, so that the test can find a file's bytes in the stored tar stream
    return f"""\
- name: keep
  hosts: {host.name}
  backups:
    - name: tree
      paths: [{json.dumps(root)}]
      compress: none
      keep: {{last: {last}}}
      max_age: 1h
"""


@pytest.fixture
def project(tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]) -> BackupProject:
    return BackupProject(tmp_path / "project", sshd_fleet)


def take(project: BackupProject, host: SshdHost) -> str:
    code, document, stderr = project.run("--limit", host.name)
    (entry,) = backup_results(document, host.name)
    assert code == 0 and entry["outcome"] == "taken", (entry, stderr)
    assert entry["verify"]["ok"] and entry["verify"]["state"] == "verified", entry
    return str(entry["snapshot"])


def freshness(project: BackupProject, host: SshdHost) -> dict[str, Any]:
    """The freshness check as a checks-only run (`run --check`, which takes no backup) sees it."""
    _, document, _ = project.run("--limit", host.name, "--check")
    (entry,) = [h for h in document["hosts"] if h["host"] == host.name]
    assert all(b["outcome"] == "skipped" for b in entry["backups"]), entry["backups"]
    checks = {c["name"]: c for c in entry["checks"]}
    check: dict[str, Any] = checks[FRESHNESS]
    return check


def stored_path(project: BackupProject, snapshot: dict[str, Any]) -> Path:
    """The file a local store keeps a snapshot in (its location, absolute or in the store)."""
    location = Path(snapshot["location"])
    candidates = [location] if location.is_absolute() else []
    candidates += list((project.state_dir).rglob(location.name))
    files = [c for c in candidates if c.is_file()]
    assert files, f"no stored file for {snapshot['id']} at {snapshot['location']!r}"
    return files[0]


def flip_one_byte_of(stored: Path, text: bytes) -> None:
    data = bytearray(stored.read_bytes())
    at = data.find(text)
    assert at > 0 and data.find(text, at + 1) == -1, f"{text!r} is not once in {stored}"
    data[at + 2] ^= 0x01
    stored.write_bytes(bytes(data))


def test_a_flipped_byte_is_found_named_raises_freshness_and_the_good_snapshot_is_kept(
    project: BackupProject, sshd_hosts: list[SshdHost]
) -> None:
    host = sshd_hosts[2]
    root = str(host.directory / f"srv-{uuid.uuid4().hex[:8]}")
    build_tree(host, root)
    project.write(playbook(host, root, last=2))
    older = take(project, host)
    conf = f"{root}/etc/app.conf"
    on_host(host, f"printf 'changed\\n' >> {shlex.quote(conf)}")
    newer = take(project, host)
    listed = {s["id"]: s for s in project.snapshots(host.name, "tree")}
    assert set(listed) == {older, newer}
    assert freshness(project, host)["status"] == "ok"

    flip_one_byte_of(stored_path(project, listed[newer]), b"changed\n")

    verify = project.jarvisctl("backups", "verify", newer)
    assert verify.returncode != 0, verify.stdout + verify.stderr
    assert conf in verify.stdout + verify.stderr, verify.stdout + verify.stderr
    after = {s["id"]: s for s in project.snapshots(host.name, "tree")}
    assert after[newer]["state"] == "unusable" and conf in after[newer]["problem"], after[newer]
    assert after[older]["state"] == "verified", after[older]

    check = freshness(project, host)
    assert check["status"] == "critical", check

    # keep only the last one now: the unusable newest may not push out the older good one
    project.write(playbook(host, root, last=1))
    dry = project.jarvisctl("backups", "prune", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert {s["id"] for s in project.snapshots(host.name, "tree")} == {older, newer}
    pruned = project.jarvisctl("backups", "prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    kept = {s["id"]: s for s in project.snapshots(host.name, "tree")}
    assert older in kept and kept[older]["state"] == "verified", (kept, pruned.stdout)
    reverified = project.jarvisctl("backups", "verify", older)
    assert reverified.returncode == 0, reverified.stdout + reverified.stderr


def test_a_flipped_byte_in_a_compressed_snapshot_is_found_and_named(
    project: BackupProject, sshd_hosts: list[SshdHost]
) -> None:
    """The default compression (gzip) stored: one byte flipped in the middle of the stored
    file breaks the deflate stream or the content; verify names the file it was reading."""
    host = sshd_hosts[1]
    root = str(host.directory / f"srv-{uuid.uuid4().hex[:8]}")
    build_tree(host, root)
    project.write(playbook(host, root, last=2).replace("      compress: none\n", ""))
    taken = take(project, host)
    (snapshot,) = project.snapshots(host.name, "tree")
    assert snapshot["id"] == taken and snapshot["compress"] == "gzip"
    stored = stored_path(project, snapshot)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))

    verify = project.jarvisctl("backups", "verify", taken)
    assert verify.returncode != 0, verify.stdout + verify.stderr
    assert f"{root}/" in verify.stdout + verify.stderr, verify.stdout + verify.stderr
    (after,) = project.snapshots(host.name, "tree")
    assert after["state"] == "unusable" and f"{root}/" in after["problem"], after
