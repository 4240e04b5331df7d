"""A snapshot being taken, in the real SQLite index: its manifest goes in a page at a time,
invisible to readers until it is recorded; a take that fails leaves no rows; a take killed
mid-way (its process gone) leaves rows that the next take on the controller sweeps. And a
manifest read back in path order, a page at a time."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from jarvisctl.core.errors import StoreError
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import EntryType, ManifestEntry
from jarvisctl.store.sqlite import snapshots as sqlite_snapshots
from tests.unit.test_snapshot_index import MANIFEST, snapshot


def rows(path: Path) -> tuple[int, int]:
    """(manifest rows, pending takes) in the state file."""
    with sqlite3.connect(path) as db:
        files = db.execute("SELECT count(*) FROM snapshot_files").fetchone()[0]
        pending = db.execute("SELECT count(*) FROM snapshot_pending").fetchone()[0]
    return int(files), int(pending)


def test_pages_are_invisible_until_recorded_then_read_back_in_order(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    with index.pending("s1") as pending:
        pending.write(MANIFEST[:2])
        pending.write(MANIFEST[2:])
        assert rows(tmp_path / "state.db") == (3, 1)  # committed, page by page
        assert index.list() == () and tuple(index.manifest("s1")) != ()  # no snapshot yet
        with pytest.raises(Exception, match="no snapshot"):
            index.get("s1")
        pending.record(snapshot("s1"))
    assert index.get("s1") == snapshot("s1")
    assert tuple(index.manifest("s1")) == MANIFEST
    assert rows(tmp_path / "state.db") == (3, 0)


def test_a_take_that_fails_leaves_no_rows(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    with pytest.raises(OSError, match="ended early"), index.pending("s1") as pending:
        pending.write(MANIFEST)
        raise OSError("the stream ended early")
    assert index.list() == () and rows(tmp_path / "state.db") == (0, 0)
    with index.pending("s2") as pending:  # left without recording: forgotten as well
        pending.write(MANIFEST)
    assert rows(tmp_path / "state.db") == (0, 0)


def test_a_record_that_does_not_match_its_pages_is_refused(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    with index.pending("s1") as pending:
        pending.write(MANIFEST)
        with pytest.raises(ValueError, match="not the one pending"):
            pending.record(replace(snapshot("s1"), files=2))
        with pytest.raises(ValueError, match="not the one pending"):
            pending.record(snapshot("s2"))
    assert index.list() == () and rows(tmp_path / "state.db") == (0, 0)


def test_a_killed_takes_rows_are_swept_by_the_next_take(tmp_path: Path) -> None:
    """A process that wrote pages and died (SIGKILL: no cleanup ran) leaves them; a live
    process's pages are left alone."""
    script = (
        "import os, sys\n"
        "from jarvisctl.store.factory import open_store\n"
        "from tests.unit.test_snapshot_index import MANIFEST\n"
        "index = open_store(__import__('pathlib').Path(sys.argv[1])).snapshots\n"
        "with index.pending('killed') as pending:\n"
        "    pending.write(MANIFEST)\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, check=False)
    assert done.returncode == -9
    assert rows(tmp_path / "state.db") == (3, 1)
    index = open_store(tmp_path).snapshots
    with index.pending("live") as live:
        live.write(MANIFEST[:1])
        assert rows(tmp_path / "state.db") == (1, 1)  # the killed one's are gone
        with index.pending("second") as second:  # this process lives: its take is kept
            assert rows(tmp_path / "state.db") == (1, 2)
            second.write(MANIFEST[1:])
            second.record(replace(snapshot("second"), files=2))
        live.record(replace(snapshot("live"), files=1))
    assert sorted(s.id for s in index.list()) == ["live", "second"]
    assert rows(tmp_path / "state.db") == (3, 0)


def test_a_record_after_its_pages_were_swept_fails(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    index = open_store(tmp_path).snapshots
    with index.pending("s1") as pending:
        pending.write(MANIFEST)
        with sqlite3.connect(path) as db:  # as a sweep that judged its process dead would
            db.execute("DELETE FROM snapshot_pending")
        with pytest.raises(StoreError, match="swept"):
            pending.record(snapshot("s1"))
    assert index.list() == ()


def test_a_manifest_reads_back_by_path_over_several_pages(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    count = sqlite_snapshots._PAGE * 2 + 7
    entries = [
        ManifestEntry(f"/d/{n:06d}", EntryType.FILE, 0o644, "", 0, 0, n, 0.0, f"{n:064x}")
        for n in reversed(range(count))
    ]
    twice = ManifestEntry("/d/000005", EntryType.DIR, 0o755, "", 0, 0, 0, 0.0)
    odd = ManifestEntry("/d/caf\udce9", EntryType.FILE, 0o644, "", 0, 0, 1, 0.0, "ab" * 32)
    index.add(replace(snapshot("big"), files=count + 2), [*entries, twice, odd])
    index.add(snapshot("other", at=1), MANIFEST)
    by_path = list(index.manifest_by_path("big"))
    expected = sorted([*entries, odd], key=lambda e: e.path.encode("utf-8", "surrogateescape"))
    at = expected.index(entries[-6])  # /d/000005, received first as a file, then as a dir
    expected.insert(at + 1, twice)
    assert by_path == expected
