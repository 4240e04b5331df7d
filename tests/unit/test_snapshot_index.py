"""The backup snapshot index on a real SQLite state file: a snapshot and its manifest are
recorded together or not at all, found by id or a unique prefix of it, listed newest first, marked
by verification, and forgotten."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import (
    EntryType,
    ManifestEntry,
    Snapshot,
    SnapshotState,
    UnknownSnapshotError,
)
from jarvisctl.store.sqlite import snapshots as sqlite_snapshots

DAY = 86400.0


def snapshot(sid: str, *, host: str = "h1", backup: str = "etc", at: float = 0.0) -> Snapshot:
    return Snapshot(
        id=sid,
        host=host,
        backup=backup,
        play="p",
        store="local",
        location=f"/state/backups/{sid}.tar.gz",
        taken_at=1_800_000_000.0 + at,
        seconds=1.5,
        source="paths",
        compress="gzip",
        files=3,
        bytes=12,
        stored_bytes=40,
    )


MANIFEST = (
    ManifestEntry("/etc/app", EntryType.DIR, 0o755, "root:root", 0, 0, 0, 1.0),
    ManifestEntry(
        "/etc/app/a file\nwith newline", EntryType.FILE, 0o600, "u:g", 1000, 1000, 12, 2.5, "ab" * 8
    ),
    ManifestEntry(
        "/etc/app/caf\udce9", EntryType.SYMLINK, 0o777, "", 0, 0, 0, 3.0, None, "../\udcff"
    ),
)


def test_a_snapshot_and_its_manifest_read_back_as_recorded(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    index.add(snapshot("s1"), MANIFEST)
    assert index.get("s1") == snapshot("s1")
    assert tuple(index.manifest("s1")) == MANIFEST  # undecodable bytes in names survive
    # and so does it for another process's connection to the same file
    assert tuple(open_store(tmp_path, readonly=True).snapshots.manifest("s1")) == MANIFEST


def test_list_is_newest_first_and_filters_by_host_and_backup(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    index.add(snapshot("a", at=1 * DAY), ())
    index.add(snapshot("c", host="h2", at=3 * DAY), ())
    index.add(snapshot("b", backup="db", at=2 * DAY), ())
    assert [s.id for s in index.list()] == ["c", "b", "a"]
    assert [s.id for s in index.list(host="h1")] == ["b", "a"]
    assert [s.id for s in index.list(backup="etc")] == ["c", "a"]
    assert [s.id for s in index.list(host="h1", backup="etc")] == ["a"]
    assert index.list(host="nowhere") == ()


def test_get_takes_a_unique_prefix_and_says_when_a_prefix_is_ambiguous(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    for n, sid in enumerate(("20261201T000000Z-h1-etc-0a1b", "20261201T000000Z-h1-etc-0a1", "x_y")):
        index.add(snapshot(sid, at=n), ())
    assert index.get("20261201T000000Z-h1-etc-0a1").id == "20261201T000000Z-h1-etc-0a1"  # exact
    assert index.get("20261201T000000Z-h1-etc-0a1b").id == "20261201T000000Z-h1-etc-0a1b"
    with pytest.raises(UnknownSnapshotError) as raised:
        index.get("2026")
    assert str(raised.value) == (
        "'2026' is the start of 2 snapshot ids (20261201T000000Z-h1-etc-0a1, "
        "20261201T000000Z-h1-etc-0a1b): give more of the id"
    )
    assert raised.value.exit_code == 2
    with pytest.raises(UnknownSnapshotError, match="no snapshot 'x%' in the index"):
        index.get("x%")  # LIKE's wildcards are matched as written
    assert index.get("x_").id == "x_y"
    with pytest.raises(UnknownSnapshotError, match="no snapshot 'X' in the index"):
        index.get("X")  # LIKE ignores case; ids do not
    with pytest.raises(UnknownSnapshotError, match="no snapshot id given"):
        index.get("")


def test_many_ids_under_one_prefix_are_named_a_few(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    for n in range(8):
        index.add(snapshot(f"s{n}", at=n), ())
    with pytest.raises(UnknownSnapshotError, match=r"\(s7, s6, s5, s4, s3 and 3 more\)"):
        index.get("s")


def test_mark_records_a_verification_and_returns_the_entry(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    index.add(snapshot("s1"), MANIFEST)
    bad = index.mark("s1", SnapshotState.UNUSABLE, 5.0, "/etc/app/x: sha256 differs")
    assert bad == replace(
        snapshot("s1"),
        state=SnapshotState.UNUSABLE,
        verified_at=5.0,
        problem="/etc/app/x: sha256 differs",
    )
    assert index.get("s1") == bad
    good = index.mark("s1", SnapshotState.VERIFIED, 6.0)
    assert (good.state, good.verified_at, good.problem) == (SnapshotState.VERIFIED, 6.0, None)
    with pytest.raises(UnknownSnapshotError):
        index.mark("nope", SnapshotState.VERIFIED, 6.0)


def test_remove_forgets_the_snapshot_and_its_manifest_only(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    index.add(snapshot("s1"), MANIFEST)
    index.add(snapshot("s2", at=1), MANIFEST[:1])
    index.remove("s1")
    index.remove("s1")  # again: a prune interrupted after the index, or two prunes at once
    assert [s.id for s in index.list()] == ["s2"]
    assert tuple(index.manifest("s1")) == ()
    assert tuple(index.manifest("s2")) == MANIFEST[:1]
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT count(*) FROM snapshot_files").fetchone() == (1,)


def test_a_manifest_that_fails_midway_records_nothing(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots

    def broken() -> Iterator[ManifestEntry]:
        yield from MANIFEST
        raise OSError("the stream ended early")

    with pytest.raises(OSError, match="ended early"):
        index.add(snapshot("s1"), broken())
    assert index.list() == ()
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT count(*) FROM snapshot_files").fetchone() == (0,)
    index.add(snapshot("s1"), MANIFEST)  # and the same id can be recorded afterwards
    with pytest.raises(Exception, match="UNIQUE"):
        index.add(snapshot("s1"), MANIFEST[:1])  # a second snapshot under one id is refused
    assert tuple(index.manifest("s1")) == MANIFEST


def test_a_long_manifest_reads_back_whole_and_in_order(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    count = sqlite_snapshots._PAGE * 2 + 7  # over several pages, the last one short
    entries = [
        ManifestEntry(f"/d/{n:06d}", EntryType.FILE, 0o644, "", 0, 0, n, 0.0, f"{n:064x}")
        for n in reversed(range(count))  # received in an order that is not the paths'
    ]
    index.add(snapshot("big"), iter(entries))
    index.add(snapshot("other", at=1), entries[:3])
    assert list(index.manifest("big")) == entries


def test_a_reader_of_a_store_from_before_the_index_sees_no_snapshots(tmp_path: Path) -> None:
    from jarvisctl.store.sqlite import schema

    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        for migration in schema.STATE[:3]:
            for statement in migration.statements:
                db.execute(statement)
        db.execute("PRAGMA user_version=3")
    index = open_store(tmp_path, readonly=True).snapshots
    assert index.list() == ()
    assert tuple(index.manifest("s1")) == ()
    with pytest.raises(UnknownSnapshotError):
        index.get("s1")
    with sqlite3.connect(path) as db:  # and it did not migrate it
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
