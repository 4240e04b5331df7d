"""Check history persists in SQLite between separate `jarvisctl run` invocations."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

from jarvisctl.core.results import Status
from jarvisctl.store.checks import CheckState
from jarvisctl.store.sqlite.store import SqliteStore

PLAYBOOK = """\
- name: watch
  hosts: all
  checks:
    - name: level
      use: command
      with: {command: "cat level.txt"}
      warn: 80
      crit: 90
      clear: 75
      for: 2
"""


def run_once(project: Path, value: float) -> dict[str, object]:
    (project / "level.txt").write_text(f"{value}\n")
    result = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr
    check: dict[str, object] = json.loads(result.stdout)["hosts"][0]["checks"][0]
    return check


def test_hysteresis_and_for_across_invocations(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    values = [50, 95, 95, 85, 78, 78, 74, 74]
    statuses = [run_once(tmp_path, v)["status"] for v in values]
    assert statuses == [
        "ok",  # first reading
        "ok",  # critical seen once: `for: 2` holds it
        "critical",  # twice: now critical
        "critical",  # 85: warning seen once
        "warning",  # 78 is under warn, but hysteresis keeps it a warning: twice, so warning
        "warning",  # 78 again: held until clear 75
        "warning",  # 74 reached clear: ok seen once
        "ok",  # twice: ok
    ]
    assert (tmp_path / ".jarvisctl" / "state.db").is_file()


def test_the_reason_says_why_a_status_is_held(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    run_once(tmp_path, 50)
    held = run_once(tmp_path, 95)
    assert held["status"] == "ok" and held["raw_status"] == "critical"
    assert str(held["reason"]).startswith("critical for 1 of 2 cycles before the status changes")


def test_flapping_across_invocations(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAYBOOK.replace("      clear: 75\n      for: 2\n", ""))
    marks = [run_once(tmp_path, 95 if n % 2 else 50)["flapping"] for n in range(6)]
    assert marks == [False, False, False, False, True, True]


def _bump(path: str, rounds: int) -> None:
    _bump_with(SqliteStore(Path(path)), rounds)


def _bump_with(store: SqliteStore, rounds: int) -> None:
    for _ in range(rounds):
        store.checks.update_host(
            "h1",
            [("p", "c")],
            lambda current: {
                ("p", "c"): replace(
                    current.get(("p", "c"), CheckState(Status.OK)),
                    pending_count=current.get(("p", "c"), CheckState(Status.OK)).pending_count + 1,
                )
            },
        )


def test_concurrent_processes_do_not_lose_updates(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_bump, args=(str(path), 25)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert SqliteStore(path).checks.read_host("h1")[("p", "c")].pending_count == 100


def test_threads_of_one_process_queue_on_one_lock_and_lose_no_update(tmp_path: Path) -> None:
    """Host threads finishing together wait on the process's lock for the file, not in
    SQLite's busy handler; every store on the same file (by any name) shares it."""
    path = tmp_path / "state.db"
    stores = [SqliteStore(path), SqliteStore(tmp_path / "." / "state.db")]
    assert stores[0].file._lock is stores[1].file._lock
    threads = [threading.Thread(target=_bump_with, args=(stores[i % 2], 10)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert SqliteStore(path).checks.read_host("h1")[("p", "c")].pending_count == 200


def test_a_process_keeps_one_connection_per_file_and_notices_a_replaced_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    with store.file.connect() as first, SqliteStore(path).file.connect() as second:
        assert first is second
    _bump_with(store, 3)
    path.unlink()  # an operator removes the state: the next call starts a fresh database
    for leftover in tmp_path.glob("state.db-*"):
        leftover.unlink()
    fresh = SqliteStore(path)
    assert fresh.checks.read_host("h1") == {}
    _bump_with(store, 1)
    assert fresh.checks.read_host("h1")[("p", "c")].pending_count == 1


def test_a_transaction_left_open_is_rolled_back_when_the_block_ends(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    with store.file.connect() as db:
        db.execute("BEGIN IMMEDIATE")
        with store.file.connect() as inner:  # nested, same thread: same connection, no rollback
            assert inner.in_transaction
        db.execute(
            "INSERT INTO check_state (host, play, check_name, status, since, updated) "
            "VALUES ('h1', 'p', 'c', 'ok', 0, 0)"
        )
    with store.file.connect() as db:
        assert not db.in_transaction
    assert store.checks.read_host("h1") == {}
