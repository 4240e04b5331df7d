"""What only reads the state store never creates, migrates or writes it; and each kind of store
fault is told apart, by the error and by the directory itself."""

from __future__ import annotations

import errno
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli
from jarvisctl.core.errors import (
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreNotDirectoryError,
    StoreReadOnlyError,
)
from jarvisctl.core.events import RUN_STARTED
from jarvisctl.record.audit import Journal, journal_path
from jarvisctl.record.history import list_runs
from jarvisctl.store.faults import store_fault
from jarvisctl.store.sqlite.faults import lock_holders
from jarvisctl.store.sqlite.store import SqliteStore
from tests.events import raw


def invoke(root: Path, *args: str) -> tuple[int, str]:
    (root / "jarvisctl.yml").write_text("state_dir: state\n")
    result = CliRunner().invoke(cli, [*args, "-c", str(root / "jarvisctl.yml")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_readers_of_a_missing_store_create_nothing(tmp_path: Path) -> None:
    assert invoke(tmp_path, "runs") == (0, "no runs recorded\n")
    assert invoke(tmp_path, "remediations", "escalated") == (0, "no escalated checks\n")
    code, output = invoke(tmp_path, "audit", "verify", "last")
    assert code == 2 and "no runs are recorded yet" in output
    assert not (tmp_path / "state").exists()


def test_an_empty_database_file_reads_as_an_empty_store(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.db").write_bytes(b"")  # what a first run on a full disk leaves
    assert invoke(tmp_path, "runs") == (0, "no runs recorded\n")
    assert (tmp_path / "state" / "state.db").stat().st_size == 0
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["state.db"]


def test_a_reader_refuses_a_store_newer_than_it_understands(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="version 99 is newer"):
        SqliteStore(path, readonly=True)


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreError, match=f"{path} is not a usable SQLite database"):
        list_runs(SqliteStore(path, readonly=True))


@pytest.mark.parametrize(
    ("number", "kind", "words"),
    [
        (errno.ENOSPC, StoreFullError, "on a full filesystem (ENOSPC)"),
        (errno.EDQUOT, StoreFullError, "on a full filesystem (EDQUOT)"),
        (errno.EROFS, StoreReadOnlyError, "on a read-only filesystem (EROFS)"),
        (errno.EACCES, StoreReadOnlyError, "not writable by this user (EACCES)"),
        (errno.ENOTDIR, StoreNotDirectoryError, "is not a directory"),
    ],
)
def test_each_os_fault_is_told_apart(
    tmp_path: Path, number: int, kind: type[StoreError], words: str
) -> None:
    error = store_fault(tmp_path / "state.db", OSError(number, "refused"))
    assert type(error) is kind
    assert str(error).startswith(f"the state directory {tmp_path}") and words in str(error)


def test_the_holder_of_a_lock_is_found_and_named(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path)
    script = (
        "import sqlite3, sys, time\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(30)\n"
    )
    holder = subprocess.Popen(  # named as the console script is: argv[0] 'jarvisctl'
        ["bash", "-c", 'exec -a jarvisctl "$0" -c "$1" "$2"', sys.executable, script, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert lock_holders(path) == [holder.pid]
        store = SqliteStore(path, lock_timeout=0.2)
        with pytest.raises(StoreLockedError) as raised, store.file.transaction():
            pass
    finally:
        holder.kill()
        holder.wait(timeout=10)
    message = str(raised.value)
    assert message.startswith(f"the state database {path} is locked by another jarvisctl")
    assert f"(pid {holder.pid}: jarvisctl -c import sqlite3, sys, time db = " in message
    assert "for longer than 0.2s (timeouts.state_lock)" in message


def test_a_journal_the_index_does_not_know_is_listed_as_incomplete(tmp_path: Path) -> None:
    state = tmp_path / "state"
    SqliteStore(state / "state.db")  # an index without the run: its insert never happened
    run_id = "20261203T110000Z-abcdef"
    journal = Journal(journal_path(state, run_id), run_id)
    journal.emit(
        raw(RUN_STARTED, at=1796295600.0, data={"mode": "check", "hosts": ["b", "a"], "pid": 7})
    )
    journal.close()
    journal_path(state, "20261203T120000Z-012345").write_bytes(b"")  # not even run_started

    code, output = invoke(tmp_path, "runs", "--json")
    assert code == 0, output
    listed = {r["run_id"]: r for r in json.loads(output)}
    assert listed[run_id]["status"] == "incomplete"
    assert (listed[run_id]["mode"], listed[run_id]["hosts"]) == ("check", ["a", "b"])
    assert listed["20261203T120000Z-012345"]["status"] == "incomplete"
    assert invoke(tmp_path, "runs", "--host", "a", "--status", "incomplete")[1].startswith("run ")
    shown = CliRunner().invoke(cli, ["runs", "-c", str(tmp_path / "jarvisctl.yml"), "show", run_id])
    code, output = shown.exit_code, shown.output
    assert code == 0 and "status:     incomplete" in output, output
    assert "journal:" in output and "1 records, intact, incomplete" in output
