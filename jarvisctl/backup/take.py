"""Taking one backup of one host: the host's stream read through `Connection.run(sink=...)`, each
chunk written to the store's writer and, through a bounded pipe, to a thread that decompresses
it and digests every file (backup/manifest.py) while it arrives. Nothing holds the snapshot in
memory: the pipe's buffer and one chunk are all there is between the channel and the disk, and
a slow store or digest back-pressures the SSH channel (so the host's tar waits). The manifest
goes to the index a page at a time as the digest parses it (SnapshotIndex.pending), so neither
is a snapshot's manifest held whole: a page of entries is.

A snapshot is recorded (made visible with its pages) only when the host's side exited 0, the
stream decompressed and parsed whole, and the store committed it; anything else (a failing tar,
a timeout, a lost connection, a full store, a stop) aborts the writer, which keeps nothing,
forgets the pages written, and the reason is in the value.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
import time
from collections.abc import Iterable
from typing import BinaryIO

from jarvisctl.backup.compression import Inflow, inflow
from jarvisctl.backup.errors import BackupStoreError
from jarvisctl.backup.host_command import TRAILER, WARNING, HostSide, host_command
from jarvisctl.backup.manifest import digest_stream, manifest_of_tar
from jarvisctl.backup.stores.base import BackupStore, SnapshotWriter
from jarvisctl.connection.base import CommandResult, Connection
from jarvisctl.connection.capture import StreamTail
from jarvisctl.core.clock import Clock
from jarvisctl.core.errors import JarvisError
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import Redactor
from jarvisctl.plan.model import BackupPlan
from jarvisctl.store.snapshots import (
    EntryType,
    ManifestEntry,
    PendingSnapshot,
    Snapshot,
    SnapshotIndex,
)

# The pipe between the receiving thread and the digest: what may be in flight between them.
_PIPE_BYTES = 1024 * 1024
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), absent from the module before Python 3.10
_STDERR_TAIL = 16 * 1024
_REASON_LINES = 8
# A `command` backup's one manifest entry: its stream as a file only its owner reads.
COMMAND_FILE_MODE = 0o600
# tar's notes that are no reason for anything (it strips '/' from absolute names).
_NOISE = ("Removing leading `/'",)
# Manifest entries handed to the index at a time while the stream is parsed: all of a
# manifest that is ever in memory (about 1 KiB an entry).
MANIFEST_PAGE = 1000


@frozen
class BackupTaken:
    """What taking one backup of one host did: the recorded snapshot, or why there is none
    (`error`: the reason alone; the caller names the backup and host). `interrupted`: the
    run's stop (or Ctrl-C) ended it, not a failure of the host or store. `warning`: what the
    host's side warned about in a snapshot that was kept (GNU tar's "file changed as we read
    it")."""

    snapshot: Snapshot | None
    error: str | None
    seconds: float
    interrupted: bool = False
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.snapshot is not None


class _Stopped(Exception):
    """The run's cancel event was set while the stream was arriving."""


def new_snapshot_id(host: str, backup: str, taken_at: float) -> str:
    """`<UTC yyyymmddThhmmssZ>-<host>-<backup>-<4 hex>` (store/snapshots.py): sortable by time."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(taken_at))
    return f"{stamp}-{host}-{backup}-{secrets.token_hex(2)}"


def take_backup(
    connection: Connection,
    host: str,
    plan: BackupPlan,
    store: BackupStore,
    index: SnapshotIndex,
    clock: Clock,
    cancel: threading.Event | None = None,
    *,
    secrets: Iterable[str] = (),
) -> BackupTaken:
    """Take `plan` from `host` into `store` and record it in `index`. Never raises for a failed
    transfer: the reason (redacted of `secrets`, and never quoting the command) is in the value.
    KeyboardInterrupt sets `cancel` and becomes an interrupted value; without `cancel` it is
    raised again once the writer has dropped everything."""
    started, taken_at = clock.monotonic(), clock.now()
    snapshot_id = new_snapshot_id(host, plan.name, taken_at)
    side = host_command(plan, connection.settings)
    warning: str | None = None
    try:
        with index.pending(snapshot_id) as pending:
            attempt = _Attempt(connection, side, plan, store, cancel, pending)
            snapshot, error, interrupted = _attempted(attempt, snapshot_id, host, taken_at, clock)
            if snapshot is not None:
                error = _record(snapshot, pending, store)
                snapshot = None if error else snapshot
            warning = attempt.warning
    except KeyboardInterrupt:  # while the pages were being forgotten: the take had failed
        if cancel is None:
            raise
        cancel.set()
        snapshot, error, interrupted = None, "interrupted (Ctrl-C): nothing was kept", True
    except JarvisError as exc:  # the index could not note the take: nothing was transferred
        snapshot, error, interrupted = None, f"the snapshot could not be recorded ({exc})", False
    seconds = clock.monotonic() - started
    redactor = Redactor(frozenset(secrets))
    if error is not None:
        error = redactor.text(error.replace(repr(side.command), "the backup"))
        return BackupTaken(None, error, seconds, interrupted)
    warning = None if warning is None else redactor.text(warning)
    return BackupTaken(snapshot, None, seconds, warning=warning)


def _attempted(
    attempt: _Attempt, snapshot_id: str, host: str, taken_at: float, clock: Clock
) -> tuple[Snapshot | None, str | None, bool]:
    """(the snapshot stored, or None and why, and whether a stop or Ctrl-C ended it)."""
    try:
        return attempt.run(snapshot_id, host, taken_at, clock), None, False
    except KeyboardInterrupt:
        if attempt.cancel is None:
            raise
        attempt.cancel.set()
        return None, "interrupted (Ctrl-C): nothing was kept", True
    except _Stopped:
        return None, "the run was stopped: nothing was kept", True
    except _Failed as failed:
        return None, str(failed), failed.interrupted


class _Failed(Exception):
    def __init__(self, reason: str, *, interrupted: bool = False) -> None:
        super().__init__(reason)
        self.interrupted = interrupted


def _record(snapshot: Snapshot, pending: PendingSnapshot, store: BackupStore) -> str | None:
    """The snapshot made visible in the index; if that fails, its data out of the store (no
    orphans; leaving `pending` forgets its pages)."""
    try:
        pending.record(snapshot)
    except JarvisError as exc:
        with contextlib.suppress(JarvisError):
            store.delete(snapshot)
        return f"the snapshot could not be recorded ({exc}); its data was deleted"
    return None


class _Attempt:
    """One transfer: the writer, the digest thread and the receiving sink, and their outcome."""

    def __init__(
        self,
        connection: Connection,
        side: HostSide,
        plan: BackupPlan,
        store: BackupStore,
        cancel: threading.Event | None,
        pending: PendingSnapshot,
    ) -> None:
        self.connection, self.side, self.plan, self.store = connection, side, plan, store
        self.cancel, self.pending = cancel, pending
        self.warning: str | None = None

    def run(self, snapshot_id: str, host: str, taken_at: float, clock: Clock) -> Snapshot:
        started = clock.monotonic()
        try:
            with self.store.writer(snapshot_id, self.plan, host) as writer:
                digest = self._transfer(writer)
                if digest.problem is not None:
                    raise _Failed(f"the stream from the host is not whole: {digest.problem}")
                digest.last_page(clock.now())
                if digest.unrecorded is not None:
                    raise _Failed(f"{digest.unrecorded}; nothing was kept")
                location, stored = writer.commit()
        except BackupStoreError as exc:
            raise _Failed(str(exc)) from exc
        return Snapshot(
            id=snapshot_id,
            host=host,
            backup=self.plan.name,
            play=self.plan.play,
            store=self.store.name,
            location=location,
            taken_at=taken_at,
            seconds=clock.monotonic() - started,
            source=self.plan.source,
            compress=writer.compress,
            files=digest.files,
            bytes=digest.bytes,
            stored_bytes=stored,
        )

    def _transfer(self, writer: SnapshotWriter) -> _Digest:
        """Run the host's side into the writer and the digest; the digest has finished (or
        failed) when this returns, whatever happened."""
        digest = _Digest(self.plan, self.pending)
        receiver = _Receiver(writer, digest.inflow, self.plan.bandwidth, self.cancel)
        try:
            result = self.connection.run(
                self.side.command, timeout=self.plan.timeout, stdin=self.side.script, sink=receiver
            )
        except BaseException as exc:
            digest.abort()
            stopped = self.cancel is not None and self.cancel.is_set()
            if isinstance(exc, (_Stopped, KeyboardInterrupt, BackupStoreError)):
                raise
            if isinstance(exc, JarvisError):  # unreachable, lost, or closed by the run's stop
                raise _Failed(f"{exc}; nothing was kept", interrupted=stopped) from exc
            if isinstance(exc, Exception):  # the SSH library's own (a rekey that timed out...)
                reason = f"the connection failed mid-transfer ({type(exc).__name__}: {exc})"
                raise _Failed(f"{reason}; nothing was kept", interrupted=stopped) from exc
            raise
        if not result.ok:
            digest.abort()
            raise _Failed(self._host_failure(result, receiver.stderr_tail.text()))
        digest.finish()
        self.warning = _warning(receiver.stderr_tail.text())
        return digest

    def _host_failure(self, result: CommandResult, stderr: str) -> str:
        if result.timed_out:
            return (
                f"the transfer did not finish within its timeout "
                f"({self.plan.timeout:g}s) and was stopped; nothing was kept"
            )
        lines = [ln for ln in stderr.splitlines() if ln.strip() and not _noise(ln)]
        shown = "; ".join(lines[-_REASON_LINES:]) or "no message"
        if result.exit_code is None:
            return f"the host's side ended without an exit status ({shown}); nothing was kept"
        if not any(ln.startswith(TRAILER) for ln in lines):
            shown = f"exited with status {result.exit_code}: {shown}"
        return f"{shown}; nothing was kept"


def _warning(stderr: str) -> str | None:
    """The host's side's warning (its WARNING line), with what tar said about it."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not _noise(ln)]
    warned = [ln for ln in lines if ln.startswith(WARNING)]
    if not warned:
        return None
    said = [ln for ln in lines if not ln.startswith(TRAILER)][-_REASON_LINES:]
    return "; ".join([warned[-1].removeprefix(WARNING).strip(), *said])


def _noise(line: str) -> bool:
    return any(note in line for note in _NOISE)


class _Receiver:
    """The OutputSink of the transfer: each stdout chunk to the store and to the digest."""

    def __init__(
        self,
        writer: SnapshotWriter,
        digest: Inflow,
        bandwidth: int | None,
        cancel: threading.Event | None,
    ) -> None:
        self._writer, self._digest, self._cancel = writer, digest, cancel
        self._throttle = _Throttle(bandwidth, cancel) if bandwidth else None
        self.received = 0
        self.stderr_tail = StreamTail(_STDERR_TAIL)

    def stdout(self, data: bytes) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise _Stopped
        self._writer.write(data)
        self._digest.write(data)
        self.received += len(data)
        if self._throttle is not None:
            self._throttle.passed(len(data))

    def stderr(self, data: bytes) -> None:
        self.stderr_tail.feed(data)

    @property
    def ended(self) -> bool:
        return False  # the stream's end is EOF


class _Throttle:
    """A token bucket at `rate` bytes/s: while the sink waits, the SSH window (or the local
    pipe) fills and the host's tar waits too. An idle second is not saved up for a burst."""

    def __init__(self, rate: int, cancel: threading.Event | None) -> None:
        self._rate, self._cancel = float(rate), cancel
        self._since: float | None = None
        self._sent = 0

    def passed(self, size: int) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        self._sent += size
        ahead = self._since + self._sent / self._rate - now
        if ahead > 0:
            if self._cancel is None:
                time.sleep(ahead)
            elif self._cancel.wait(ahead):
                raise _Stopped
        elif ahead < -1.0:
            self._since, self._sent = now, 0


class _Digest:
    """Decompresses the stream into a pipe that a thread reads: the manifest of a tar stream,
    written to the index a page at a time as it is parsed, or the digest of a command's stream.
    The thread reads to the end whatever happens, so the receiving side never blocks on a
    reader that gave up."""

    def __init__(self, plan: BackupPlan, pending: PendingSnapshot) -> None:
        self._plan, self._pending = plan, pending
        read_end, write_end = os.pipe()
        with contextlib.suppress(OSError):  # a larger pipe: fewer wake-ups (Linux)
            fcntl.fcntl(write_end, _F_SETPIPE_SZ, _PIPE_BYTES)
        self._pipe: BinaryIO = os.fdopen(write_end, "wb")
        self._stream: tuple[str, int] | None = None
        self.files = 0  # manifest entries written to the index
        self.bytes = 0  # their content bytes
        self.problem: str | None = None  # the stream is not whole
        self.unrecorded: str | None = None  # the index refused a page
        self._thread = threading.Thread(target=self._read, args=(read_end,), daemon=True)
        self._thread.start()
        try:
            self.inflow = inflow(plan.compress, self._pipe)
        except BaseException:
            self._close_pipe()
            raise

    def _read(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb") as stream:
            try:
                if self._plan.source == "paths":
                    self._paged(manifest_of_tar(stream))
                else:
                    self._stream = digest_stream(stream)
            except (ValueError, OSError) as exc:  # TarStreamError is a ValueError
                self.problem = str(exc)
            except JarvisError as exc:  # the state store's (full, locked too long...)
                self.unrecorded = f"the manifest could not be recorded ({exc})"
            with contextlib.suppress(OSError):
                while stream.read(65536):  # tar's end padding, or what followed a bad member
                    pass

    def finish(self) -> None:
        """The end of the stream: the decompressor's end checked, the digest waited for."""
        try:
            self.inflow.close()
        except BackupStoreError as exc:
            self.problem = str(exc)
            self.inflow.abort()
        self._close_pipe()
        self._thread.join()

    def abort(self) -> None:
        self.inflow.abort()
        self._close_pipe()
        self._thread.join()

    def _close_pipe(self) -> None:
        with contextlib.suppress(OSError):  # the reader is gone: nothing more to flush to it
            self._pipe.close()

    def _paged(self, entries: Iterable[ManifestEntry]) -> None:
        page: list[ManifestEntry] = []
        for entry in entries:
            page.append(entry)
            if len(page) >= MANIFEST_PAGE:
                self._write(page)
                page = []
        self._write(page)

    def _write(self, page: list[ManifestEntry]) -> None:
        if page:
            self._pending.write(page)
            self.files += len(page)
            self.bytes += sum(e.size for e in page if e.type is EntryType.FILE)

    def last_page(self, mtime: float) -> None:
        """After the stream: a `command` backup's one entry, its file (a tar's are written)."""
        if self._stream is None:
            return
        sha256, size = self._stream
        name = self._plan.file or self._plan.name
        mode = COMMAND_FILE_MODE
        try:
            self._write([ManifestEntry(name, EntryType.FILE, mode, "", 0, 0, size, mtime, sha256)])
        except JarvisError as exc:
            self.unrecorded = f"the manifest could not be recorded ({exc})"
