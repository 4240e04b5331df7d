"""Interrupted backups leave nothing behind (issue 17, Must show): the host's sshd killed in the
middle of a transfer, and the controller's store on a full filesystem (an 8 MiB tmpfs). Each
time: no snapshot recorded, no partial file left in the store, a clear error in the run's
report, and the next backup succeeds."""

from __future__ import annotations

import json
import shlex
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.backup_hosts import files_under, kill_sshd, on_host, small_tmpfs
from tests.e2e.backup_project import BackupProject, backup_results
from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


def command_playbook(host: SshdHost, command: str) -> str:
    return f"""\
- name: keep
  hosts: {host.name}
  backups:
    - name: stream
      command: {json.dumps(command)}
      file: stream.bin
      keep: {{last: 5}}
"""


def paths_playbook(host: SshdHost, root: str) -> str:
    return f"""\
- name: keep
  hosts: {host.name}
  backups:
    - name: blob
      paths: [{json.dumps(root)}]
      store: small
      keep: {{last: 5}}
"""


def stored_files(state_dir: Path) -> dict[str, int]:
    """Files of the state directory other than the database and the run journals: what a
    store keeps (snapshots, and any partial file a failed transfer would leave)."""
    return {
        path: size
        for path, size in files_under(state_dir).items()
        if not path.startswith(("state.db", "runs/", "audit")) and "/state.db" not in path
    }


def failed_backup(project: BackupProject, host: SshdHost) -> dict[str, str]:
    """The run's one backup entry, which must say it failed while taking it, and why."""
    code, document, stderr = project.run("--limit", host.name)
    (entry,) = backup_results(document, host.name)
    assert code != 0, (document, stderr)
    assert entry["outcome"] == "failed" and entry["stage"] == "take", entry
    assert entry["snapshot"] is None, entry
    return entry


def taken_backup(project: BackupProject, host: SshdHost) -> dict[str, str]:
    code, document, stderr = project.run("--limit", host.name)
    (entry,) = backup_results(document, host.name)
    assert code == 0 and entry["outcome"] == "taken", (entry, stderr)
    return entry


@pytest.fixture
def project(tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]) -> BackupProject:
    return BackupProject(tmp_path / "project", sshd_fleet)


def test_sshd_killed_mid_transfer_leaves_no_snapshot_and_no_partial_file(
    project: BackupProject, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    host = sshd_hosts[3]
    marker = host.directory / f"streaming-{uuid.uuid4().hex[:8]}"
    quick = f"head -c {2 * MIB} /dev/urandom"
    project.write(command_playbook(host, quick))
    first = taken_backup(project, host)
    baseline = stored_files(project.state_dir)
    assert baseline, "the first snapshot is stored under the state directory"

    # 4 MiB, then a pause long enough to kill sshd while the transfer is open
    stalling = f"head -c {4 * MIB} /dev/urandom; touch {shlex.quote(str(marker))}; sleep 30"
    project.write(command_playbook(host, stalling))
    run = project.popen("run", "backups.yml", "--json", "--limit", host.name)
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and _growing(project.state_dir, baseline)):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the transfer did not start"
            time.sleep(0.05)
        kill_sshd(host)
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
        sshd_fleet.reset()
    assert "Traceback" not in stderr, stderr
    document = json.loads(stdout)
    (entry,) = backup_results(document, host.name)
    assert run.returncode != 0 and entry["outcome"] == "failed", entry
    assert entry["stage"] == "take" and entry["snapshot"] is None, entry
    # a reason an operator can act on: which connection broke, and that nothing was kept
    assert "ssh connection" in entry["reason"].lower(), entry
    assert f"{host.address}:{host.port}" in entry["reason"], entry
    assert [s["id"] for s in project.snapshots(host.name)] == [first["snapshot"]]
    assert stored_files(project.state_dir) == baseline, "a partial file was left behind"

    project.write(command_playbook(host, quick))
    again = taken_backup(project, host)
    assert [s["id"] for s in project.snapshots(host.name)] == [
        again["snapshot"],
        first["snapshot"],
    ]


def _growing(state_dir: Path, baseline: dict[str, int]) -> bool:
    """Whether the transfer has reached the controller: a new file with bytes in it."""
    return any(size and path not in baseline for path, size in stored_files(state_dir).items())


def test_a_full_store_leaves_no_snapshot_and_no_partial_file(
    project: BackupProject, sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    host = sshd_hosts[3]
    root = str(host.directory / f"blob-{uuid.uuid4().hex[:8]}")
    q = shlex.quote
    # 12 MiB of random bytes (gzip cannot shrink them) for an 8 MiB store
    on_host(host, f"mkdir -p {q(root)} && head -c {12 * MIB} /dev/urandom > {q(root)}/blob")
    with small_tmpfs(tmp_path / "small-store", "8m") as store:
        project.stores = {"small": {"type": "local", "path": str(store)}}
        project.write(paths_playbook(host, root))

        entry = failed_backup(project, host)
        # which store is full, where, and the system's own words for it
        assert "'small' is full" in entry["reason"], entry
        assert str(store) in entry["reason"] and "No space left" in entry["reason"], entry
        assert project.snapshots(host.name, "blob") == []
        assert files_under(store) == {}, "a partial file was left in the full store"

        # 6 MiB fit only if the failed transfer gave back every byte it had written
        on_host(host, f"head -c {6 * MIB} /dev/urandom > {q(root)}/blob")
        taken = taken_backup(project, host)
        (snapshot,) = project.snapshots(host.name, "blob")
        assert snapshot["id"] == taken["snapshot"] and snapshot["store"] == "small"
        assert sum(files_under(store).values()) == snapshot["stored_bytes"] > 6 * MIB
