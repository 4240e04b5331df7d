"""`jarvisctl run` of a play with backups, against real sshd hosts on loopback: each host's
backups are taken after its checks over its SSH session, verified, pruned, and shown in the
run's text, its JSON (run/v2, byte for byte what `report` gives later) and its exit code;
--limit and --tags choose them; a failing backup fails its host; the derived freshness check is
OK after a backup, CRITICAL past max_age (the engine's clock seam, in-process) and CRITICAL
once the newest snapshot failed verification."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.config.project import load_project
from jarvisctl.core.results import Outcome, Status
from jarvisctl.core.secrets import SecretValues
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.runner import execute
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan.planner import make_plan
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import Snapshot
from tests.e2e.sshd import SshdFleet, SshdHost
from tests.fakes import FakeClock
from tests.waiting import free_port, wait_for

pytestmark = pytest.mark.e2e

PLAY = """\
- name: keep
  hosts: sshd
  checks:
    - {{name: tree there, use: path_exists, with: {{path: "{tree}"}}, tags: [disk]}}
  backups:
    - name: data
      paths: ["{tree}"]
      exclude: ["*.tmp"]
      keep: {{last: 2}}
      max_age: 1h
      verify: restore
      compress: {compress}
      tags: [nightly]
"""
GONE = """\
- name: keep
  hosts: sshd
  backups:
    - {{name: gone, paths: ["{tree}/no such dir"], keep: {{last: 2}}}}
    - {{name: data, paths: ["{tree}"], keep: {{last: 2}}}}
"""


def jarvisctl(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def run_json(project: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    done = jarvisctl(project, "run", "play.yml", "-i", "inventory.yml", "--json", *args)
    return done.returncode, json.loads(done.stdout), done.stdout


@pytest.fixture
def project(tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]) -> Path:
    sshd_fleet.write_inventory(tmp_path / "inventory.yml")
    tree = tmp_path / "tree"
    (tree / "etc" / "deep").mkdir(parents=True)
    (tree / "etc" / "app.conf").write_text("port = 8080\n")
    (tree / "etc" / "deep" / "key").write_bytes(bytes(range(256)) * 64)
    (tree / "etc" / "scratch.tmp").write_text("left out\n")
    (tree / "link").symlink_to("etc/app.conf")
    write_play(tmp_path, PLAY)
    return tmp_path


def write_play(project: Path, play: str, compress: str = "gzip") -> None:
    text = play.format(tree=project / "tree", compress=compress)
    (project / "play.yml").write_text(textwrap.dedent(text))


def snapshots(project: Path, host: str | None = None) -> tuple[Snapshot, ...]:
    with open_store(project / ".jarvisctl", readonly=True) as store:
        return store.snapshots.list(host, "data")


def by_host(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["host"]: h for h in document["hosts"]}


def test_each_host_is_backed_up_verified_and_pruned_after_its_checks(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    two = f"{sshd_hosts[0].name}:{sshd_hosts[1].name}"
    for _ in range(3):
        code, document, printed = run_json(project, "--limit", two)
        assert code == 0, printed
    later = jarvisctl(project, "report", "last", "--format", "json")
    assert later.returncode == 0 and later.stdout == printed  # the same document
    hosts = by_host(document)
    assert set(hosts) == {sshd_hosts[0].name, sshd_hosts[1].name}
    for name, host in hosts.items():
        assert host["outcome"] == "ok"
        (backup,) = host["backups"]
        assert (backup["outcome"], backup["store"], backup["source"]) == ("taken", "local", "paths")
        # the tree, two directories, three files and a link; *.tmp excluded
        assert backup["files"] == 6 and backup["bytes"] == len("port = 8080\n") + 256 * 64
        assert backup["verify"]["ok"] and backup["verify"]["mode"] == "restore"
        assert len(backup["prune"]["forgotten"]) == 1 and len(backup["prune"]["kept"]) == 2
        kept = snapshots(project, name)
        assert [s.id for s in kept] == backup["prune"]["kept"]
        assert backup["snapshot"] == kept[0].id
        checks = {c["name"]: c for c in host["checks"]}
        assert checks["backup data"]["status"] == "ok"
        assert checks["backup data"]["source"] == "controller"
        assert checks["tree there"]["status"] == "ok"
    assert snapshots(project, sshd_hosts[2].name) == ()  # --limit
    text = jarvisctl(project, "run", "play.yml", "-i", "inventory.yml", "--limit", two)
    assert text.returncode == 0, text.stdout + text.stderr
    lines = text.stdout.split("BACKUPS\n")[1].splitlines()
    assert len(lines) == 2 and all("data -> local: taken " in line for line in lines)
    assert all(", 6 files, " in line and "verified (restore), pruned 1" in line for line in lines)


def test_a_failing_backup_fails_its_host_and_the_json_says_why(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    write_play(project, GONE)
    code, document, printed = run_json(project, "--limit", sshd_hosts[0].name)
    assert code == 1, printed  # not ok
    assert document["status"] == "not_ok" and document["summary"]["failed"] == 1
    (host,) = document["hosts"]
    gone, data = host["backups"]
    assert (gone["outcome"], gone["stage"], gone["snapshot"]) == ("failed", "take", None)
    assert "no such dir" in gone["reason"]
    assert host["outcome"] == "failed" and host["error"].startswith("backup 'gone' failed at take")
    assert data["outcome"] == "taken"  # the next backup still ran
    assert [s.backup for s in snapshots(project)] == ["data"]


def test_tags_choose_the_backups(project: Path, sshd_hosts: list[SshdHost]) -> None:
    one = sshd_hosts[0].name
    code, document, printed = run_json(project, "--limit", one, "--tags", "disk")
    assert code == 0, printed
    (host,) = document["hosts"]
    assert host["backups"] == [] and snapshots(project) == ()
    code, document, printed = run_json(project, "--limit", one, "--tags", "nightly")
    assert code == 0, printed
    assert [b["outcome"] for b in document["hosts"][0]["backups"]] == ["taken"]


def test_check_mode_takes_none_and_a_failed_verification_makes_freshness_critical(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    one = sshd_hosts[0].name
    write_play(project, PLAY, compress="none")
    assert run_json(project, "--limit", one)[0] == 0
    code, document, printed = run_json(project, "--limit", one, "--check")
    assert code == 0, printed
    (backup,) = document["hosts"][0]["backups"]
    assert backup["outcome"] == "skipped" and backup["reason"].startswith("check mode: would")
    (newest,) = snapshots(project, one)
    stored = project / ".jarvisctl" / "backups" / newest.location
    data = stored.read_bytes()
    stored.write_bytes(data.replace(b"port = 8080", b"port = 8081"))  # one byte flipped
    from jarvisctl.backup.stores.base import open_backup_store
    from jarvisctl.backup.verify import verify_snapshot
    from jarvisctl.plan.model import BackupStorePlan

    with open_store(project / ".jarvisctl") as store:
        local = open_backup_store(BackupStorePlan("local", "local", ""), project / ".jarvisctl")
        outcome = verify_snapshot(
            newest, local, store.snapshots, "checksum", project / "scratch", FakeClock()
        )
    assert not outcome.ok and "app.conf" in (outcome.problem or "")
    code, document, printed = run_json(project, "--limit", one, "--check")
    assert code == 1, printed
    checks = {c["name"]: c for c in document["hosts"][0]["checks"]}
    assert checks["backup data"]["status"] == "critical"
    assert f"{newest.id}, is unusable" in checks["backup data"]["reason"]


def test_freshness_is_critical_past_max_age_by_the_engine_clock(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    """In-process, over the real SSH connection, with the engine's clock moved by the test."""
    loaded = load_project(start=project)
    now = datetime.now(timezone.utc)
    plan = make_plan(
        loaded,
        [project / "play.yml"],
        [project / "inventory.yml"],
        now,
        sshd_hosts[0].name,
        secrets=SecretValues(),
    )
    assert plan.ok, plan.problems
    clock = FakeClock(now.timestamp())

    def once(mode: str) -> Any:
        with open_store(loaded.state_dir) as store:
            report = execute(
                plan,
                load_registry(),
                ConnectionPool(),
                forks=1,
                mode=mode,
                cancel=threading.Event(),
                store=store,
                clock=clock,
                state_dir=loaded.state_dir,
            )
        (host,) = report.hosts
        return host

    taken = once("run")
    assert taken.outcome is Outcome.OK and taken.backups[0].outcome == "taken"
    assert {c.name: c.status for c in taken.checks}["backup data"] is Status.OK
    clock.advance(3600 + 1)  # past max_age: 1h
    stale = once("check")
    fresh = {c.name: c for c in stale.checks}["backup data"]
    assert (fresh.status, fresh.value) == (Status.CRITICAL, 3601.0)
    again = once("run")
    assert {c.name: c.status for c in again.checks}["backup data"] is Status.OK


def test_ctrl_c_stops_a_transfer_keeps_nothing_and_reports_it_interrupted(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    (project / "tree" / "big.bin").write_bytes(os.urandom(4 << 20))
    slow = PLAY.replace("tags: [nightly]", "tags: [nightly]\n      bandwidth: 256KiB/s")
    write_play(project, slow, compress="none")  # 4 MiB at 256 KiB/s: about 16 s
    limit = ("--limit", sshd_hosts[0].name)
    process = subprocess.Popen(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml", *limit],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    store = project / ".jarvisctl" / "backups"
    deadline = time.monotonic() + 30
    while not list(store.rglob("*.partial")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(store.rglob("*.partial")), "the transfer never started"
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert [p for p in store.rglob("*") if p.is_file()] == []  # no snapshot, no partial file
    assert snapshots(project) == ()
    report = jarvisctl(project, "report", "last", "--format", "json")
    document = json.loads(report.stdout)
    assert document["status"] == "interrupted"
    (host,) = document["hosts"]
    assert host["outcome"] == "interrupted"
    assert [b["outcome"] for b in host["backups"]] == ["interrupted"]
    deadline = time.monotonic() + 10
    while tar_on_host(project) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tar_on_host(project) == [], "the host's tar outlived the interrupted run"


def tar_on_host(project: Path) -> list[int]:
    """The host's side of a transfer of the test's tree, if one is still running (the test
    hosts are this machine)."""
    found = subprocess.run(["pgrep", "-f", f"{project}/tree"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split() if int(pid) != os.getpid()]


@pytest.mark.slow
def test_the_daemons_schedule_takes_them_routinely(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    port = free_port()
    (project / "playbooks").mkdir()
    text = PLAY.format(tree=project / "tree", compress="gzip")
    text = text.replace(
        "  hosts: sshd\n", f"  hosts: {sshd_hosts[0].name}\n  schedule: {{every: 2s}}\n"
    )
    (project / "playbooks" / "keep.yml").write_text(text)
    (project / "jarvisctl.yml").write_text(
        f"playbooks: [playbooks]\ninventory: inventory.yml\ndaemon: {{listen: 127.0.0.1:{port}}}\n"
    )
    log = (project / "daemon.log").open("ab")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "jarvisctl", "daemon"],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    try:

        def pruned() -> list[dict[str, Any]]:
            records = [
                json.loads(line)
                for journal in (project / ".jarvisctl" / "runs").glob("*.jsonl")
                for line in journal.read_text().splitlines()
                if line.endswith("}")
            ]
            return [r for r in records if r["kind"] == "backup_prune" and r["data"]["forgotten"]]

        wait_for(lambda: bool(pruned()), 90, "a scheduled cycle that pruned")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0, (project / "daemon.log").read_text()[-2000:]
        log.close()
    kept = snapshots(project, sshd_hosts[0].name)
    assert len(kept) == 2 and all(s.state.value == "verified" for s in kept)
    (record,) = pruned()[:1]
    assert record["host"] == sshd_hosts[0].name and len(record["data"]["kept"]) == 2
