"""`kind: local`: a directory on the controller, one file per snapshot under `<host>/<backup>/`.

The stream is stored as it arrived (compressed as the backup's `compress` says). It is written
to a hidden partial file in its target directory and renamed into place, fsync'd, only on
commit, so a reader never sees half a snapshot and an interrupted transfer leaves nothing.
A writer holds its partial file (backup/leftovers.py) so that one whose process was killed
(SIGKILL leaves no chance to clean up) is swept, and reported, by the next writer or reader of
that backup's directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from jarvisctl.backup.compression import SUFFIX, opened_uncompressed
from jarvisctl.backup.errors import BackupStoreError
from jarvisctl.backup.leftovers import hold, sweep
from jarvisctl.plan.model import BackupPlan
from jarvisctl.store.snapshots import Snapshot

PARTIAL_SUFFIX = ".partial"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")
_WRITE_BUFFER = 1024 * 1024


class LocalBackupStore:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root

    def writer(self, snapshot_id: str, plan: BackupPlan, host: str) -> LocalSnapshotWriter:
        directory = self.root / safe_component(host) / safe_component(plan.name)
        ending = ".tar" if plan.source == "paths" else f".{safe_component(plan.file or 'data')}"
        name = safe_component(snapshot_id) + ending + SUFFIX[plan.compress]
        return LocalSnapshotWriter(self, directory, name, plan.compress)

    @contextlib.contextmanager
    def open(self, snapshot: Snapshot) -> Iterator[BinaryIO]:
        path = self._path_of(snapshot)
        sweep_partials(path.parent)
        try:
            raw = path.open("rb")
        except FileNotFoundError:
            raise BackupStoreError(
                f"snapshot {snapshot.id}: its data is missing from backup store "
                f"{self.name!r} (expected {path})"
            ) from None
        except OSError as exc:
            raise BackupStoreError(
                f"snapshot {snapshot.id}: cannot read {path} in backup store {self.name!r}: "
                f"{exc.strerror or exc}"
            ) from exc
        with opened_uncompressed(raw, str(path), snapshot.compress) as stream:
            yield stream

    def delete(self, snapshot: Snapshot) -> None:
        path = self._path_of(snapshot)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise BackupStoreError(
                f"snapshot {snapshot.id}: cannot delete {path} from backup store "
                f"{self.name!r}: {exc.strerror or exc}"
            ) from exc
        for directory in (path.parent, path.parent.parent):  # <backup>/, then <host>/
            with contextlib.suppress(OSError):  # not empty: other snapshots are still there
                directory.rmdir()

    def check(self, expected: Iterable[Snapshot] = ()) -> tuple[str, ...]:
        if not self.root.is_dir():
            return (f"backup store {self.name!r}: directory {self.root} does not exist",)
        problems = []
        for snapshot in expected:
            path = self._path_of(snapshot)
            if not path.is_file():
                problems.append(f"snapshot {snapshot.id}: its data {path} is missing")
        return tuple(problems)

    def _path_of(self, snapshot: Snapshot) -> Path:
        relative = Path(snapshot.location)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise BackupStoreError(
                f"snapshot {snapshot.id}: location {snapshot.location!r} is not inside backup "
                f"store {self.name!r} (a relative path below {self.root} is expected)"
            )
        return self.root / relative


class LocalSnapshotWriter:
    """A hidden partial file beside the target, renamed into place on commit."""

    def __init__(self, store: LocalBackupStore, directory: Path, name: str, compress: str) -> None:
        self.compress = compress
        self._store, self._directory, self._name = store, directory, name
        self._partial: Path | None = None
        self._file: BinaryIO | None = None
        self._committed = False

    def __enter__(self) -> LocalSnapshotWriter:
        try:
            # backups hold what the hosts protect (keys, /etc/shadow): owner-only directories
            root = self._store.root
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            for directory in (self._directory.parent, self._directory):
                directory.mkdir(mode=0o700, exist_ok=True)
            sweep_partials(self._directory)
            fd, self._partial = self._held_partial()
        except OSError as exc:
            raise self._error("cannot create a file", exc) from exc
        self._file = os.fdopen(fd, "wb", buffering=_WRITE_BUFFER)
        return self

    def _held_partial(self) -> tuple[int, Path]:
        """A new partial file, locked for as long as this process keeps it open."""
        while True:
            fd, partial = tempfile.mkstemp(
                prefix=f".{self._name}.", suffix=PARTIAL_SUFFIX, dir=self._directory
            )
            if hold(fd, Path(partial)):
                return fd, Path(partial)
            os.close(fd)  # swept between its creation and its lock: make another

    def write(self, data: bytes) -> None:
        assert self._file is not None, "write() outside the writer's block"
        try:
            self._file.write(data)
        except OSError as exc:
            raise self._error("cannot write", exc) from exc

    def commit(self) -> tuple[str, int]:
        assert self._file is not None and self._partial is not None
        target = self._directory / self._name
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            size = os.fstat(self._file.fileno()).st_size
            self._file.close()
            os.rename(self._partial, target)
            _fsync_directory(self._directory)
        except OSError as exc:
            raise self._error("cannot complete", exc) from exc
        self._committed = True
        return str(target.relative_to(self._store.root)), size

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None and not self._file.closed:
            with contextlib.suppress(OSError):  # a full disk fails the flush of close() too
                self._file.close()
        if not self._committed and self._partial is not None:
            self._partial.unlink(missing_ok=True)

    def _error(self, doing: str, exc: OSError) -> BackupStoreError:
        where = self._directory / self._name
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return BackupStoreError(
                f"backup store {self._store.name!r} is full: {doing} {where} "
                f"({exc.strerror}); nothing was kept of this snapshot"
            )
        return BackupStoreError(
            f"backup store {self._store.name!r}: {doing} {where}: {exc.strerror or exc}; "
            f"nothing was kept of this snapshot"
        )


def sweep_partials(directory: Path) -> list[Path]:
    """Remove (and report) the partial files in `directory` that no live writer holds."""
    return sweep(
        directory,
        lambda name: name.startswith(".") and name.endswith(PARTIAL_SUFFIX),
        lambda path: path.unlink(missing_ok=True),
        "a partial snapshot file",
    )


def safe_component(text: str) -> str:
    """A name as one path component: other characters become '_', and never '.' or '..'."""
    cleaned = _UNSAFE.sub("_", text)
    return cleaned if cleaned.strip(".") else cleaned.replace(".", "_") or "_"


def _fsync_directory(directory: Path) -> None:
    """The rename itself is durable only once its directory is synced."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
