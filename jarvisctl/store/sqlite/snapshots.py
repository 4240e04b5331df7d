"""The backup snapshot index in SQLite: a row per snapshot (snapshots) and per manifest entry
(snapshot_files, numbered in the order the files were received).

A snapshot being taken writes its manifest's rows a page at a time, each page its own short
transaction (the state file's lock is never held for a whole transfer), under an id that has a
snapshot_pending row and no snapshots row: no reader finds them (every reader starts from a
snapshots row). Recording it is one transaction (the pending row out, the snapshots row in);
a take that fails deletes its rows; a process killed mid-take leaves them, with its pid, for
the next take on this controller to sweep.

A store written before version 4 has neither table; a reader does not migrate it, so on such a
file the index reads as empty (nothing was ever backed up with it) instead of failing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence

from jarvisctl.core.errors import StoreError
from jarvisctl.core.processes import pid_alive
from jarvisctl.store.snapshots import (
    EntryType,
    ManifestEntry,
    Snapshot,
    SnapshotState,
    UnknownSnapshotError,
)
from jarvisctl.store.sqlite.statefile import StateFile

_COLUMNS = (
    "id, host, backup, play, store, location, taken_at, seconds, source, compress, files, "
    "bytes, stored_bytes, state, verified_at, problem"
)
_FILE_COLUMNS = "seq, path, type, mode, owner, uid, gid, size, mtime, sha256, target"
_PAGE = 2000  # manifest rows read per turn of the lock: a long manifest never holds it for long
_SHOWN = 5  # ids named when a prefix is ambiguous


_INSERT_SNAPSHOT = f"INSERT INTO snapshots ({_COLUMNS}) VALUES ({', '.join('?' * 16)})"
_INSERT_FILE = (
    f"INSERT INTO snapshot_files (snapshot_id, {_FILE_COLUMNS}) VALUES ({', '.join('?' * 12)})"
)


class SqliteSnapshotIndex:
    def __init__(self, file: StateFile) -> None:
        self.file = file

    def add(self, snapshot: Snapshot, manifest: Iterable[ManifestEntry]) -> None:
        with self.file.transaction() as db:
            db.execute(_INSERT_SNAPSHOT, _snapshot_row(snapshot))
            db.executemany(
                _INSERT_FILE, (_file_row(snapshot.id, seq, e) for seq, e in enumerate(manifest))
            )

    @contextlib.contextmanager
    def pending(self, snapshot_id: str) -> Iterator[SqlitePendingSnapshot]:
        controller = socket.gethostname()
        with self.file.transaction() as db:
            _sweep(db, controller)
            db.execute(
                "INSERT INTO snapshot_pending (id, pid, controller, started) VALUES (?, ?, ?, ?)",
                (snapshot_id, os.getpid(), controller, time.time()),
            )
        pending = SqlitePendingSnapshot(self.file, snapshot_id)
        try:
            yield pending
        finally:
            if not pending.recorded:
                # a store that fails now keeps the rows (invisible) until a later take sweeps
                with contextlib.suppress(StoreError), self.file.transaction() as db:
                    _forget_pending(db, snapshot_id)

    def mark(
        self, snapshot_id: str, state: SnapshotState, at: float, problem: str | None = None
    ) -> Snapshot:
        with self.file.transaction() as db:
            cursor = db.execute(
                "UPDATE snapshots SET state = ?, verified_at = ?, problem = ? WHERE id = ?",
                (SnapshotState(state).value, at, problem, snapshot_id),
            )
            if cursor.rowcount == 0:
                raise UnknownSnapshotError(f"no snapshot {snapshot_id!r} in the index")
            row = db.execute(
                f"SELECT {_COLUMNS} FROM snapshots WHERE id = ?", (snapshot_id,)
            ).fetchone()
        return _snapshot(row)

    def get(self, wanted: str) -> Snapshot:
        if not wanted:
            raise UnknownSnapshotError("no snapshot id given")
        pattern = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.file.connect() as db:
            if not _has_index(db):
                rows: list[Sequence[object]] = []
            else:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM snapshots WHERE id LIKE ? ESCAPE '\\' "
                    "ORDER BY taken_at DESC, id DESC",
                    (pattern + "%",),
                ).fetchall()
        # LIKE ignores ASCII case; an id is matched as written
        rows = [r for r in rows if str(r[0]).startswith(wanted)]
        exact = [r for r in rows if r[0] == wanted]
        if exact or len(rows) == 1:
            return _snapshot((exact or rows)[0])
        if not rows:
            raise UnknownSnapshotError(
                f"no snapshot {wanted!r} in the index (`jarvisctl backups list` lists them)"
            )
        shown = ", ".join(str(r[0]) for r in rows[:_SHOWN])
        more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
        raise UnknownSnapshotError(
            f"{wanted!r} is the start of {len(rows)} snapshot ids ({shown}{more}): "
            "give more of the id"
        )

    def list(self, host: str | None = None, backup: str | None = None) -> tuple[Snapshot, ...]:
        where, args = ["1 = 1"], list[object]()
        if host is not None:
            where.append("host = ?")
            args.append(host)
        if backup is not None:
            where.append("backup = ?")
            args.append(backup)
        with self.file.connect() as db:
            if not _has_index(db):
                return ()
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM snapshots WHERE {' AND '.join(where)} "
                "ORDER BY taken_at DESC, id DESC",
                args,
            ).fetchall()
        return tuple(_snapshot(row) for row in rows)

    def manifest(self, snapshot_id: str) -> Iterator[ManifestEntry]:
        """Read a page at a time, the lock released between pages, so that a consumer as slow
        as a verification's reading of the store never holds other threads up."""
        after = -1
        while True:
            with self.file.connect() as db:
                if not _has_index(db):
                    return
                rows = db.execute(
                    f"SELECT {_FILE_COLUMNS} FROM snapshot_files WHERE snapshot_id = ? "
                    "AND seq > ? ORDER BY seq LIMIT ?",
                    (snapshot_id, after, _PAGE),
                ).fetchall()
            yield from (_entry(row) for row in rows)
            if len(rows) < _PAGE:
                return
            after = int(rows[-1][0])

    def manifest_by_path(self, snapshot_id: str) -> Iterator[ManifestEntry]:
        """As `manifest`, a page at a time, in (path, seq) order (snapshot_files_path)."""
        after: tuple[object, int] = (b"", -1)
        while True:
            with self.file.connect() as db:
                if not _has_index(db):
                    return
                rows = db.execute(
                    f"SELECT {_FILE_COLUMNS} FROM snapshot_files WHERE snapshot_id = ? "
                    "AND (path, seq) > (?, ?) ORDER BY path, seq LIMIT ?",
                    (snapshot_id, *after, _PAGE),
                ).fetchall()
            yield from (_entry(row) for row in rows)
            if len(rows) < _PAGE:
                return
            after = (rows[-1][1], int(rows[-1][0]))

    def remove(self, snapshot_id: str) -> None:
        """Idempotent: a prune that was interrupted between the store and the index, or two
        prunes at once, find it gone and carry on."""
        with self.file.transaction() as db:
            db.execute("DELETE FROM snapshot_files WHERE snapshot_id = ?", (snapshot_id,))
            db.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,))


class SqlitePendingSnapshot:
    """One take's manifest, a page per transaction, then its snapshots row (`record`)."""

    def __init__(self, file: StateFile, snapshot_id: str) -> None:
        self.file, self.id = file, snapshot_id
        self.written = 0
        self.recorded = False

    def write(self, page: Sequence[ManifestEntry]) -> None:
        with self.file.transaction() as db:
            db.executemany(
                _INSERT_FILE,
                (_file_row(self.id, self.written + n, e) for n, e in enumerate(page)),
            )
        self.written += len(page)

    def record(self, snapshot: Snapshot) -> None:
        if snapshot.id != self.id or snapshot.files != self.written:
            raise ValueError(
                f"snapshot {snapshot.id} ({snapshot.files} files) is not the one pending "
                f"({self.id}, {self.written} files written)"
            )
        with self.file.transaction() as db:
            gone = db.execute("DELETE FROM snapshot_pending WHERE id = ?", (self.id,))
            if gone.rowcount != 1:  # swept: only a process judged dead is swept, so not ours
                raise StoreError(
                    f"{self.file.path}: the manifest of snapshot {self.id} was swept from the "
                    "index while it was taken"
                )
            db.execute(_INSERT_SNAPSHOT, _snapshot_row(snapshot))
        self.recorded = True


def _forget_pending(db: sqlite3.Connection, snapshot_id: str) -> None:
    db.execute("DELETE FROM snapshot_files WHERE snapshot_id = ?", (snapshot_id,))
    db.execute("DELETE FROM snapshot_pending WHERE id = ?", (snapshot_id,))


def _sweep(db: sqlite3.Connection, controller: str) -> None:
    """The rows of takes whose process on this controller is gone (killed mid-take)."""
    rows = db.execute(
        "SELECT id, pid FROM snapshot_pending WHERE controller = ?", (controller,)
    ).fetchall()
    for snapshot_id, pid in rows:
        if not pid_alive(int(pid)):
            _forget_pending(db, str(snapshot_id))


def _has_index(db: sqlite3.Connection) -> bool:
    """False only on a store before version 4 opened by a reader (writers migrate it)."""
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'"
    ).fetchone()
    return found is not None


def _snapshot_row(s: Snapshot) -> tuple[object, ...]:
    return (
        s.id,
        s.host,
        s.backup,
        s.play,
        s.store,
        s.location,
        s.taken_at,
        s.seconds,
        s.source,
        s.compress,
        s.files,
        s.bytes,
        s.stored_bytes,
        SnapshotState(s.state).value,
        s.verified_at,
        s.problem,
    )


def _snapshot(row: Sequence[object]) -> Snapshot:
    return Snapshot(
        id=str(row[0]),
        host=str(row[1]),
        backup=str(row[2]),
        play=str(row[3]),
        store=str(row[4]),
        location=str(row[5]),
        taken_at=float(row[6]),  # type: ignore[arg-type]
        seconds=float(row[7]),  # type: ignore[arg-type]
        source=str(row[8]),
        compress=str(row[9]),
        files=int(row[10]),  # type: ignore[call-overload]
        bytes=int(row[11]),  # type: ignore[call-overload]
        stored_bytes=int(row[12]),  # type: ignore[call-overload]
        state=SnapshotState(str(row[13])),
        verified_at=None if row[14] is None else float(row[14]),  # type: ignore[arg-type]
        problem=None if row[15] is None else str(row[15]),
    )


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _decode(data: object) -> str:
    assert isinstance(data, bytes)  # stored by _encode
    return data.decode("utf-8", "surrogateescape")


def _file_row(snapshot_id: str, seq: int, e: ManifestEntry) -> tuple[object, ...]:
    return (
        snapshot_id,
        seq,
        _encode(e.path),
        EntryType(e.type).value,
        e.mode,
        e.owner,
        e.uid,
        e.gid,
        e.size,
        e.mtime,
        e.sha256,
        None if e.target is None else _encode(e.target),
    )


def _entry(row: Sequence[object]) -> ManifestEntry:
    return ManifestEntry(
        path=_decode(row[1]),
        type=EntryType(str(row[2])),
        mode=int(row[3]),  # type: ignore[call-overload]
        owner=sys.intern(str(row[4])),  # a few names for a whole manifest: one string each
        uid=int(row[5]),  # type: ignore[call-overload]
        gid=int(row[6]),  # type: ignore[call-overload]
        size=int(row[7]),  # type: ignore[call-overload]
        mtime=float(row[8]),  # type: ignore[arg-type]
        sha256=None if row[9] is None else str(row[9]),
        target=None if row[10] is None else _decode(row[10]),
    )
