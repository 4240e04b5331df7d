"""Taking a backup never holds its manifest whole: the entries go to the index a page at a
time while the tar stream is still arriving (the store has received only part of it when the
first page is written), and a take that stops or fails after pages were written leaves no
snapshot and no rows. Through the local connection, real tar, the real SQLite index."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import pytest

from jarvisctl.backup import take
from jarvisctl.backup.stores.base import BackupStore, SnapshotWriter, open_backup_store
from jarvisctl.backup.take import take_backup
from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.local import LocalConnection
from jarvisctl.core.clock import SYSTEM_CLOCK
from jarvisctl.core.errors import StoreError
from jarvisctl.plan.model import BackupPlan, BackupStorePlan
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import ManifestEntry, PendingSnapshot, Snapshot, SnapshotIndex
from tests.backup.helpers import backup_plan, files_under

PAGE = 100
FILES = 2000
FILE_BYTES = 4096


class CountingStore:
    """A backup store that counts the bytes its writer has been given."""

    def __init__(self, inner: BackupStore) -> None:
        self.inner, self.name, self.received = inner, inner.name, 0

    def writer(self, snapshot_id: str, plan: BackupPlan, host: str) -> SnapshotWriter:
        return CountingWriter(self.inner.writer(snapshot_id, plan, host), self)

    def open(self, snapshot: Snapshot) -> AbstractContextManager[BinaryIO]:
        return self.inner.open(snapshot)

    def delete(self, snapshot: Snapshot) -> None:
        self.inner.delete(snapshot)

    def check(self, expected: Iterable[Snapshot] = ()) -> tuple[str, ...]:
        return self.inner.check(expected)


class CountingWriter:
    def __init__(self, inner: SnapshotWriter, store: CountingStore) -> None:
        self.inner, self.store = inner, store

    @property
    def compress(self) -> str:
        return self.inner.compress

    def write(self, data: bytes) -> None:
        self.store.received += len(data)
        self.inner.write(data)

    def commit(self) -> tuple[str, int]:
        return self.inner.commit()

    def __enter__(self) -> CountingWriter:
        self.inner.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return self.inner.__exit__(kind, exc, tb)


class RecordingIndex:
    """The real index, with each page's size and the store's bytes received at that moment
    noted; `at_page(n)` runs before page n is written (a stop, a failure)."""

    def __init__(self, inner: SnapshotIndex, store: CountingStore) -> None:
        self.inner, self.store = inner, store
        self.pages: list[tuple[int, int]] = []
        self.at_page: dict[int, Any] = {}

    @contextlib.contextmanager
    def pending(self, snapshot_id: str) -> Iterator[PendingSnapshot]:
        with self.inner.pending(snapshot_id) as pending:
            yield RecordingPending(pending, self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class RecordingPending:
    def __init__(self, inner: PendingSnapshot, index: RecordingIndex) -> None:
        self.inner, self.index = inner, index

    def write(self, page: Sequence[ManifestEntry]) -> None:
        action = self.index.at_page.get(len(self.index.pages))
        if action is not None:
            action()
        self.index.pages.append((len(page), self.index.store.received))
        self.inner.write(page)

    def record(self, snapshot: Snapshot) -> None:
        self.inner.record(snapshot)


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(take, "MANIFEST_PAGE", PAGE)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree") / "data"
    for d in range(20):
        (root / f"d{d:02d}").mkdir(parents=True)
        for n in range(FILES // 20):
            content = (f"{d}-{n}-".encode() * FILE_BYTES)[:FILE_BYTES]
            (root / f"d{d:02d}" / f"f{n:04d}").write_bytes(content)
    return root


def rows(state_dir: Path) -> tuple[int, int]:
    with sqlite3.connect(state_dir / "state.db") as db:
        files = db.execute("SELECT count(*) FROM snapshot_files").fetchone()[0]
        pending = db.execute("SELECT count(*) FROM snapshot_pending").fetchone()[0]
    return int(files), int(pending)


def setting(tmp_path: Path) -> tuple[LocalConnection, CountingStore, Any, Path]:
    state_dir = tmp_path / "state"
    backups = open_backup_store(BackupStorePlan(name="local", kind="local", location=""), state_dir)
    store = CountingStore(backups)
    local = LocalConnection(ConnectionSettings(host="ctl", address="localhost", connection="local"))
    return local, store, open_store(state_dir), state_dir


def test_the_manifest_reaches_the_index_in_pages_while_the_stream_arrives(
    tmp_path: Path, tree: Path
) -> None:
    local, store, state, state_dir = setting(tmp_path)
    index = RecordingIndex(state.snapshots, store)
    plan = backup_plan(paths=(str(tree),), compress="none")
    taken = take_backup(local, "ctl", plan, store, index, SYSTEM_CLOCK)  # type: ignore[arg-type]
    assert taken.snapshot is not None, taken.error
    entries = FILES + 20 + 1  # the files, their directories and the root
    assert taken.snapshot.files == entries and taken.snapshot.bytes == FILES * FILE_BYTES
    assert [size for size, _ in index.pages] == [PAGE] * (entries // PAGE) + [entries % PAGE]
    # the first page was written when the store had received well under half of the stream
    # (what lies between: tarfile's read-ahead, the pipe, one chunk: bounded, not timed)
    assert index.pages[0][1] < store.received / 2, (index.pages[0][1], store.received)
    assert len(list(state.snapshots.manifest(taken.snapshot.id))) == entries
    assert rows(state_dir) == (entries, 0)


def test_a_stop_after_pages_were_written_leaves_no_snapshot_and_no_rows(
    tmp_path: Path, tree: Path
) -> None:
    local, store, state, state_dir = setting(tmp_path)
    index = RecordingIndex(state.snapshots, store)
    cancel = threading.Event()
    index.at_page[3] = cancel.set  # three pages are in the index, the stream is still coming
    plan = backup_plan(paths=(str(tree),), compress="none")
    taken = take_backup(local, "ctl", plan, store, index, SYSTEM_CLOCK, cancel)  # type: ignore[arg-type]
    assert taken.snapshot is None and taken.interrupted, taken.error
    assert len(index.pages) >= 3
    assert state.snapshots.list() == () and rows(state_dir) == (0, 0)
    assert files_under(store.inner.root) == []  # type: ignore[attr-defined]


def test_an_index_that_refuses_a_page_fails_the_take_and_keeps_nothing(
    tmp_path: Path, tree: Path
) -> None:
    local, store, state, state_dir = setting(tmp_path)
    index = RecordingIndex(state.snapshots, store)

    def full() -> None:
        raise StoreError("state.db: the disk is full")

    index.at_page[2] = full
    plan = backup_plan(paths=(str(tree),), compress="gzip")
    taken = take_backup(local, "ctl", plan, store, index, SYSTEM_CLOCK)  # type: ignore[arg-type]
    assert taken.snapshot is None and not taken.interrupted
    assert taken.error == (
        "the manifest could not be recorded (state.db: the disk is full); nothing was kept"
    )
    assert state.snapshots.list() == () and rows(state_dir) == (0, 0)
    assert files_under(store.inner.root) == []  # type: ignore[attr-defined]
