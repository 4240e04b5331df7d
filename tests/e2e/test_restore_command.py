"""`jarvisctl backups restore` against a real sshd host: a snapshot taken over SSH is put back
byte for byte and mode for mode (read back on the host with find and sha256sum, not with
jarvisctl), `--check` changes nothing, `--to` restores elsewhere, and each argument that names
nothing, an unreachable host and a host another run holds end with README's exit codes; every
restore is recorded as a run."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from jarvisctl.backup.stores.base import open_backup_store
from jarvisctl.backup.take import take_backup
from jarvisctl.config.project import load_project
from jarvisctl.connection.registry import open_connection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.store.factory import open_store
from jarvisctl.store.leases import Holder, LeaseStore
from jarvisctl.store.snapshots import Snapshot
from tests.backup.helpers import planned_host, run_jarvisctl, runs_of
from tests.e2e.backup_hosts import NEWLINE_NAME, build_tree, fingerprint, on_host
from tests.e2e.sshd import SshdFleet, SshdHost

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "jarvisctl/render/schemas/run.schema.json").read_text()
)
PLAYBOOK = """\
- name: keep
  hosts: HOST
  backups:
    - {name: tree, paths: ["TREE"], keep: {last: 3}}
    - {name: other, paths: ["TREE/etc"], keep: {last: 3}}
    - {name: dump, command: "cat 'TREE/etc/app.conf'", file: app.dump, keep: {last: 3}}
"""


def jarvisctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_jarvisctl(root, *args, timeout=180)


def report(root: Path, run_id: str) -> dict[str, Any]:
    """The run's JSON report, valid against run.schema.json."""
    done = jarvisctl(root, "report", run_id, "--format", "json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    return document


@pytest.fixture
def host(sshd_hosts: list[SshdHost]) -> SshdHost:
    return sshd_hosts[0]


@pytest.fixture
def tree(tmp_path: Path, host: SshdHost) -> str:
    """The issue's tree on the host (the test hosts share this machine's filesystem)."""
    root = str(tmp_path / "on the host" / "tree")
    build_tree(host, root)
    return root


@pytest.fixture
def project(tmp_path: Path, sshd_fleet: SshdFleet, host: SshdHost, tree: str) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    sshd_fleet.write_inventory(root / "inventory.yml")
    (root / "site.yml").write_text(PLAYBOOK.replace("HOST", host.name).replace("TREE", tree))
    (root / "jarvisctl.yml").write_text("inventory: inventory.yml\nplaybooks: [site.yml]\n")
    return root


def take(root: Path, host: str, name: str = "tree") -> Snapshot:
    """A snapshot taken for real over SSH, as a run takes it."""
    project = load_project(root / "jarvisctl.yml")
    host_plan = planned_host(project, host)
    (backup,) = [b for b in host_plan.backups if b.name == name]
    connection = open_connection(host_plan.settings)
    try:
        with open_store(project.state_dir) as state:
            taken = take_backup(
                connection,
                host,
                backup,
                open_backup_store(backup.store, project.state_dir),
                state.snapshots,
                SYSTEM_CLOCK,
            )
    finally:
        connection.close()
    assert taken.snapshot is not None, taken.error
    return taken.snapshot


def test_a_deleted_tree_is_restored_byte_for_byte_and_mode_for_mode(
    project: Path, host: SshdHost, tree: str
) -> None:
    before = fingerprint(host, tree)
    snapshot = take(project, host.name)
    on_host(host, f"rm -rf {shlex.quote(tree)}")

    done = jarvisctl(project, "backups", "restore", host.name, "tree")
    assert done.returncode == 0, done.stdout + done.stderr
    assert fingerprint(host, tree) == before
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"snapshot {snapshot.id} (tree, taken ")
    assert lines[0].endswith(f"on {host.name} in place")
    assert any(line.endswith("with spaces\\nand a newline.txt") for line in lines)
    assert NEWLINE_NAME not in done.stdout  # escaped: one line per file
    assert f"{snapshot.files} of {snapshot.files} files restored, 0 already" in done.stdout

    (run,) = runs_of(project)
    assert (run["status"], run["mode"], run["hosts"]) == ("ok", "run", [host.name])
    journal = (project / ".jarvisctl" / "runs" / f"{run['run_id']}.jsonl").read_text()
    (record,) = [json.loads(line) for line in journal.splitlines() if '"backup_restore"' in line]
    assert record["host"] == host.name and record["data"]["snapshot"] == snapshot.id
    assert record["data"]["ok"] is True and record["data"]["changed"] == snapshot.files
    assert jarvisctl(project, "audit", "verify", run["run_id"]).returncode == 0
    assert report(project, run["run_id"])["status"] == "ok"


def test_check_lists_what_would_change_and_changes_nothing(
    project: Path, host: SshdHost, tree: str
) -> None:
    take(project, host.name)
    conf = f"{tree}/etc/app.conf"
    on_host(host, f"echo changed > {shlex.quote(conf)}; chmod 0600 {shlex.quote(tree)}/bin/run.sh")
    changed = fingerprint(host, tree)

    done = jarvisctl(project, "backups", "restore", host.name, "tree", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    changes = [line.split(None, 1) for line in done.stdout.splitlines() if line.startswith("  ")]
    assert sorted(changes) == [
        ["replace", f"{tree}/bin/run.sh (mode differs)"],
        ["replace", f"{tree}/etc/app.conf (content differs)"],
    ]
    assert "2 of " in done.stdout and " files would be restored" in done.stdout
    assert fingerprint(host, tree) == changed
    (run,) = runs_of(project)
    assert (run["status"], run["mode"]) == ("ok", "check")


def test_to_restores_under_another_path(
    project: Path, host: SshdHost, tree: str, tmp_path: Path
) -> None:
    take(project, host.name, "other")
    elsewhere = tmp_path / "elsewhere"
    done = jarvisctl(project, "backups", "restore", host.name, "other", "--to", str(elsewhere))
    assert done.returncode == 0, done.stdout + done.stderr
    copy = Path(f"{elsewhere}{tree}/etc/app.conf")
    assert copy.read_bytes() == Path(f"{tree}/etc/app.conf").read_bytes()
    assert f"under {elsewhere}" in done.stdout.splitlines()[0]


def test_arguments_that_name_nothing_are_usage_errors(
    project: Path, host: SshdHost, tmp_path: Path
) -> None:
    snapshot = take(project, host.name)
    other = take(project, host.name, "other")
    cases = [
        (("restore", host.name, "tree", "--to", "relative/path"), "not an absolute path"),
        (("restore", "host99", "tree"), "unknown host 'host99'"),
        (("restore", host.name, "tre"), "did you mean 'tree'?"),
        (("restore", host.name, "tree", "--snapshot", other.id), f"--snapshot {other.id} is of"),
        (("restore", host.name, "tree", "--snapshot", "2099"), "no snapshot '2099'"),
    ]
    for args, message in cases:
        done = jarvisctl(project, "backups", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    assert runs_of(project) == []  # refused before anything was done: nothing recorded
    assert snapshot.id != other.id


def test_an_unreachable_host_exits_4_and_is_recorded(project: Path, host: SshdHost) -> None:
    take(project, host.name)
    host.stop()
    done = jarvisctl(project, "backups", "restore", host.name, "tree")
    assert done.returncode == 4, done.stdout + done.stderr
    assert host.name in done.stderr
    (run,) = runs_of(project)
    assert run["status"] == "unreachable" and run["counts"] == {"unreachable": 1}
    (section,) = report(project, run["run_id"])["hosts"]
    assert section["outcome"] == "unreachable" and host.name in section["error"]


def test_a_host_another_run_holds_is_skipped_with_exit_8(
    project: Path, host: SshdHost, tree: str
) -> None:
    take(project, host.name)
    on_host(host, f"rm -rf {shlex.quote(tree)}/etc")
    with open_store(project / ".jarvisctl") as store:
        leases = LeaseStore(store.leases, ttl=300)
        claim = leases.acquire([host.name], Holder("20261203T000000Z-d43m0n", "daemon"))
        assert claim.granted == (host.name,)
    started = time.monotonic()
    done = jarvisctl(project, "backups", "restore", host.name, "tree")
    assert done.returncode == 8, done.stdout + done.stderr
    assert "leased by daemon run 20261203T000000Z-d43m0n" in done.stderr
    assert not Path(f"{tree}/etc").exists()  # nothing was done on the host
    (run,) = runs_of(project)
    assert run["status"] == "skipped"
    (section,) = report(project, run["run_id"])["hosts"]
    assert section["outcome"] == "skipped" and "leased by daemon run" in section["error"]
    assert time.monotonic() - started < 60


def test_a_command_backup_is_restored_to_the_file_given(
    project: Path, host: SshdHost, tree: str, tmp_path: Path
) -> None:
    snapshot = take(project, host.name, "dump")
    done = jarvisctl(project, "backups", "restore", host.name, "dump")
    assert done.returncode == 2 and "give --to PATH" in done.stderr
    (refused,) = runs_of(project)  # refused by the restore itself: recorded, and why
    assert refused["status"] == "not_ok"
    target = tmp_path / "restored" / "app.dump"
    target.parent.mkdir()
    done = jarvisctl(project, "backups", "restore", host.name, "dump", "--to", str(target))
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.read_bytes() == Path(f"{tree}/etc/app.conf").read_bytes()
    assert "1 of 1 files restored" in done.stdout and snapshot.id in done.stdout


def test_a_failed_restore_is_recorded_with_what_it_left_changed(
    project: Path, host: SshdHost, tree: str
) -> None:
    """The journal's record of a restore that failed and put the host back counts nothing as
    changed (as the printed summary says), and how many files it put back."""
    snapshot = take(project, host.name)
    data = project / ".jarvisctl" / "backups" / snapshot.location
    assert data.is_file(), data
    stored = bytearray(data.read_bytes())
    stored[len(stored) // 2] ^= 0x01  # one bit flipped in the middle of the stream
    data.write_bytes(bytes(stored))
    on_host(host, f"rm -rf {shlex.quote(tree)}/etc")
    gone = fingerprint(host, tree)

    done = jarvisctl(project, "backups", "restore", host.name, "tree")
    assert done.returncode == 1, done.stdout + done.stderr
    intended = sum(1 for line in done.stdout.splitlines() if line.startswith("  create "))
    assert intended > 0, done.stdout
    assert f"0 of {snapshot.files} files restored, {intended} put back as they were" in done.stdout
    assert fingerprint(host, tree) == gone  # put back: the host as the failure found it

    (run,) = runs_of(project)
    journal = (project / ".jarvisctl" / "runs" / f"{run['run_id']}.jsonl").read_text()
    (record,) = [json.loads(line) for line in journal.splitlines() if '"backup_restore"' in line]
    data_ = record["data"]
    assert data_["ok"] is False and data_["error"]
    assert (data_["changed"], data_["put_back"], data_["not_put_back"]) == (0, intended, 0)
    assert data_["files"] == snapshot.files
