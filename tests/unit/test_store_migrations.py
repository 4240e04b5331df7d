"""Versioned migrations of the SQLite store: applied in one transaction at open, once however
many processes open an old database at the same moment, and a newer database refused."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli
from jarvisctl.core.errors import StoreError
from jarvisctl.store.factory import open_store
from jarvisctl.store.sqlite import schema
from jarvisctl.store.sqlite.schema import Migration

LATEST = schema.latest(schema.STATE)


def tables(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return {str(name): " ".join(str(sql).split()) for name, sql in rows}


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_the_versions_are_numbered_in_order_from_one() -> None:
    for migrations in (schema.STATE, schema.JOBS):
        assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))


def test_a_new_store_has_the_latest_schema_and_an_empty_reader_the_same(tmp_path: Path) -> None:
    open_store(tmp_path / "state")
    assert user_version(tmp_path / "state" / "state.db") == LATEST
    memory = sqlite3.connect(":memory:")
    memory.executescript(schema.script(schema.STATE))
    expected = {
        str(n): " ".join(str(s).split())
        for n, s in memory.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
    }
    memory.close()
    assert tables(tmp_path / "state" / "state.db") == expected
    assert {"check_state", "remediation_attempt", "escalation", "run_index", "run_host"} <= set(
        expected
    ) and {"host_lease", "snapshots", "snapshot_files"} <= set(expected)


def test_a_version_1_store_is_brought_to_the_latest_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:  # as the first releases wrote it (no run index)
        for statement in schema.STATE[0].statements:
            db.execute(statement)
        db.execute(
            "INSERT INTO escalation VALUES ('h1', 'p', 'disk', 1700000000.0, 'budget spent')"
        )
        db.execute("PRAGMA user_version=1")
    with pytest.raises(StoreError, match="version 1 is older than this jarvisctl's"):
        open_store(tmp_path, readonly=True)  # a reader does not migrate
    assert user_version(path) == 1
    store = open_store(tmp_path)
    assert user_version(path) == LATEST
    assert [tuple(e) for e in store.ledger.escalations()] == [
        ("h1", "p", "disk", 1700000000.0, "budget spent")
    ]
    assert store.runs.newest() == [] and store.leases.all() == []
    assert store.snapshots.list() == ()


def test_a_version_3_store_gains_the_snapshot_index_and_keeps_every_row(tmp_path: Path) -> None:
    """Version 3 is the release before backups: its state.db, with a row in every table, is
    migrated in place to the latest, every row as it was, and the snapshot index works on it."""
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        for migration in schema.STATE[:3]:
            for statement in migration.statements:
                db.execute(statement)
        db.execute(
            "INSERT INTO check_state VALUES ('h1', 'p', 'disk', 'critical', 'ok', 2, "
            '\'["ok", "critical"]\', 0, 95.5, 1700000000.0, 1700000100.0)'
        )
        db.execute("INSERT INTO remediation_attempt VALUES ('h1', 'p', 'disk', 'clean', 5.0, 'ok')")
        db.execute("INSERT INTO escalation VALUES ('h1', 'p', 'disk', 6.0, 'budget spent')")
        db.execute(
            "INSERT INTO run_index (run_id, started, status, mode, source, user, controller, "
            "pid) VALUES ('20261201T000000Z-0a1b2c', 1.0, 'ok', 'run', 'cli', 'u', 'c', 1)"
        )
        db.execute("INSERT INTO run_host VALUES ('20261201T000000Z-0a1b2c', 'h1')")
        db.execute("INSERT INTO host_lease VALUES ('db7', 'o', 42, 'c', 'daemon', 1.0, 2.0)")
        db.execute("PRAGMA user_version=3")
    old = ("check_state", "remediation_attempt", "escalation", "run_index", "run_host")
    old += ("host_lease",)

    def rows() -> dict[str, list[tuple[object, ...]]]:
        with sqlite3.connect(path) as db:
            return {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in old}

    before, schema_before = rows(), tables(path)
    assert all(len(r) == 1 for r in before.values())
    store = open_store(tmp_path)
    assert user_version(path) == LATEST
    assert rows() == before
    after = tables(path)
    assert {n: s for n, s in after.items() if n in schema_before} == schema_before
    assert {"snapshots", "snapshot_files", "snapshot_pending"} <= set(after)
    assert store.snapshots.list() == ()
    assert [e.run_id for e in store.runs.newest()] == ["20261201T000000Z-0a1b2c"]
    assert [lease.host for lease in store.leases.all()] == ["db7"]


def test_a_reader_reads_a_version_2_store_without_migrating_it(tmp_path: Path) -> None:
    """Version 3 adds nothing a reader reads: `runs` works on release 8c4458a's database before
    any run of this release has migrated it, and leaves it as it was."""
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        for migration in schema.STATE[:2]:
            for statement in migration.statements:
                db.execute(statement)
        db.execute(
            "INSERT INTO run_index (run_id, started, status, mode, source, user, controller, "
            "pid) VALUES ('20261201T000000Z-0a1b2c', 1.0, 'ok', 'run', 'cli', 'u', 'c', 1)"
        )
        db.execute("PRAGMA user_version=2")
    before = tables(path)
    store = open_store(tmp_path, readonly=True)
    assert [e.run_id for e in store.runs.newest()] == ["20261201T000000Z-0a1b2c"]
    assert user_version(path) == 2 and tables(path) == before


def test_a_store_newer_than_this_release_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_store(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={LATEST + 1}")
    before = tables(path)
    for readonly in (False, True):
        with pytest.raises(StoreError) as raised:
            open_store(tmp_path, readonly=readonly)
        assert str(raised.value) == (
            f"{path}: state schema version {LATEST + 1} is newer than this jarvisctl "
            f"understands ({LATEST}); upgrade jarvisctl"
        )
    (tmp_path / "jarvisctl.yml").write_text(f"state_dir: {tmp_path}\n")
    for command in (["runs"], ["remediations", "reset", "h1"]):
        result = CliRunner().invoke(cli, [*command, "-c", str(tmp_path / "jarvisctl.yml")])
        assert result.exit_code == 7, result.output
        assert f"state schema version {LATEST + 1} is newer" in result.output
    assert tables(path) == before and user_version(path) == LATEST + 1


def test_a_migration_that_fails_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    steps = (
        Migration(1, ("CREATE TABLE a (x)",), "a"),
        Migration(2, ("CREATE TABLE b (x)", "INSERT INTO nowhere VALUES (1)"), "b, broken"),
    )
    db = sqlite3.connect(path, isolation_level=None)
    schema.migrate(path, db, steps[:1])
    with pytest.raises(sqlite3.OperationalError, match="no such table: nowhere"):
        schema.migrate(path, db, steps)
    assert not db.in_transaction
    db.close()
    assert set(tables(path)) == {"a"} and user_version(path) == 1


# A migration that cannot run twice: were two openers both to apply it, the second would fail
# with "duplicate column name".
ADD_COLUMN = (
    Migration(1, ("CREATE TABLE t (x)",), "t"),
    Migration(2, ("ALTER TABLE t ADD COLUMN y",), "t.y"),
)


def _open_and_migrate(path: str, ready: multiprocessing.Queue[str]) -> None:  # type: ignore[type-arg]
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    ready.put("connected")
    schema.migrate(Path(path), db, ADD_COLUMN)
    db.close()


def test_concurrent_openers_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None)
    schema.migrate(path, holder, ADD_COLUMN[:1])
    holder.execute("BEGIN IMMEDIATE")  # both openers see version 1, then queue on the lock
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    workers = [context.Process(target=_open_and_migrate, args=(str(path), ready)) for _ in "ab"]
    for worker in workers:
        worker.start()
    for _ in workers:
        assert ready.get(timeout=60) == "connected"
    time.sleep(2.0)  # both are past reading the version, waiting for the write lock
    holder.execute("COMMIT")
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    columns = [row[1] for row in holder.execute("PRAGMA table_info(t)")]
    holder.close()
    assert columns == ["x", "y"] and user_version(path) == 2
