"""Verifying a snapshot: its stored data read back and compared with its manifest.

`checksum` reads the store's uncompressed stream (a tar stream through manifest_of_tar, the
function that made the manifest while the snapshot was taken; a command's raw output through
sha256) and compares it with the index's manifest entry by entry: a file missing, one the
manifest does not have, or one whose type, size, digest, mode, link target, owner or mtime
differs. `restore` also extracts the stream into a scratch directory on the controller
(backup/scratch.py: nothing lands outside it, nothing is written through a link) and compares
what is on disk, file by file, with the manifest: content, mode, type, symlink target; then
removes it.

The index is then marked VERIFIED, or UNUSABLE with the problem, which names the first file that
differs. A snapshot whose data cannot be read (missing, a store that fails) is UNUSABLE as well:
it cannot be restored as things are; a later verification that succeeds marks it VERIFIED again,
with one exception: a snapshot that failed a verification by restore is made usable again only
by one by restore (a checksum shows that the data matches, not that it restores).

No verdict (the snapshot left as it was, the outcome `conclusive=False` with the reason) when
the controller's own scratch space fails (full, read-only, not permitted), or the store is
locked by another process (restic, while another host prunes): that says nothing of the
snapshot, and an UNUSABLE one would be kept forever and raise the freshness check.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol

from jarvisctl.backup.manifest import digest_stream, manifest_of_tar
from jarvisctl.backup.scratch import SCRATCH_ERRNOS, HeldScratch, ScratchError, extract_tar
from jarvisctl.backup.verify_compare import (
    compare_on_disk,
    compare_stream,
    compare_tar,
    shown,
)
from jarvisctl.core.clock import Clock
from jarvisctl.core.frozen import frozen
from jarvisctl.store.snapshots import ManifestEntry, Snapshot, SnapshotIndex, SnapshotState

MODES = ("checksum", "restore")


class ReadableStore(Protocol):
    """What verification needs of a backup store (backup/stores/base.py's BackupStore)."""

    name: str

    def open(self, snapshot: Snapshot) -> AbstractContextManager[BinaryIO]: ...

    def check(self, expected: Iterable[Snapshot] = ()) -> tuple[str, ...]: ...


BY_RESTORE = "by restore: "  # what starts the problem of a failed restore verification
# what a store says when another process holds it (restic: another host's prune), not the data
_BUSY = ("repository is already locked", "unable to create lock")


class _Unverifiable(Exception):
    """The verification could not be carried out (the controller's scratch space failed), or
    cannot overturn an earlier verdict: no verdict on the snapshot, which is left as it was."""


@frozen
class VerifyOutcome:
    snapshot: Snapshot  # as marked in the index (as it was, when the outcome is inconclusive)
    mode: str  # checksum | restore
    problem: str | None  # the first file that differs, or why the data could not be read
    seconds: float
    conclusive: bool = True  # False: the snapshot was neither marked verified nor unusable

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_snapshot(
    snapshot: Snapshot,
    store: ReadableStore,
    index: SnapshotIndex,
    mode: str,
    scratch: Path,
    clock: Clock,
) -> VerifyOutcome:
    """Read `snapshot` back from `store` (`mode` checksum, or restore into a directory made
    under `scratch` and removed after), compare it with its manifest, and mark the index."""
    if mode not in MODES:
        raise ValueError(f"verify mode {mode!r} is not one of {', '.join(MODES)}")
    started = clock.monotonic()
    try:
        problem = _checksum(snapshot, store, index)
        if problem is None and mode == "restore":
            problem = _restore(snapshot, store, index, scratch)
        if problem is None and mode == "checksum":
            _not_overturning_a_restore(index.get(snapshot.id))
        if problem is not None and any(busy in problem for busy in _BUSY):
            raise _Unverifiable(f"the backup store {store.name!r} is busy, try again: {problem}")
    except _Unverifiable as exc:
        seconds = clock.monotonic() - started
        return VerifyOutcome(index.get(snapshot.id), mode, str(exc), seconds, conclusive=False)
    state = SnapshotState.VERIFIED if problem is None else SnapshotState.UNUSABLE
    marked = index.mark(snapshot.id, state, clock.now(), problem)
    return VerifyOutcome(marked, mode, problem, clock.monotonic() - started)


def _not_overturning_a_restore(current: Snapshot) -> None:
    """A checksum shows the data matches its manifest, not that it restores: a snapshot that
    failed a restore verification is made usable again only by one that succeeds."""
    if current.state is SnapshotState.UNUSABLE and (current.problem or "").startswith(BY_RESTORE):
        raise _Unverifiable(
            f"the stored data matches its manifest, but the snapshot failed its last "
            f"verification {current.problem}; only a verification by restore makes it usable "
            "again"
        )


def _checksum(snapshot: Snapshot, store: ReadableStore, index: SnapshotIndex) -> str | None:
    manifest = index.manifest(snapshot.id)
    try:
        with store.open(snapshot) as stream:
            if snapshot.source == "command":
                return _checksum_command(stream, list(manifest))
            problem = compare_tar(manifest_of_tar(stream), manifest)
            end = _read_to_the_end(stream)
            return problem or end
    except Exception as exc:  # the store's, the decompressor's, tar's: the data is unreadable
        return f"the stored data cannot be read: {_reason(exc)}"


def _checksum_command(stream: BinaryIO, manifest: list[ManifestEntry]) -> str | None:
    if len(manifest) != 1:
        return f"a command's snapshot has one manifest entry, this one has {len(manifest)}"
    try:
        read = _digest(stream)
    except Exception as exc:
        return f"{shown(manifest[0].path)}: the stored data is damaged: {_reason(exc)}"
    return compare_stream(read, manifest[0])


def _restore(
    snapshot: Snapshot, store: ReadableStore, index: SnapshotIndex, scratch: Path
) -> str | None:
    try:
        held = HeldScratch(scratch)  # and those of killed processes swept, each reported
    except OSError as exc:
        raise _Unverifiable(f"no scratch directory in {scratch}: {exc.strerror or exc}") from exc
    with held as root:
        problem = _restore_into(root, snapshot, store, index)
    return None if problem is None else BY_RESTORE + problem


def _restore_into(
    root: Path, snapshot: Snapshot, store: ReadableStore, index: SnapshotIndex
) -> str | None:
    try:
        with store.open(snapshot) as stream:
            if snapshot.source == "command":
                return _restore_command(stream, root, next(index.manifest(snapshot.id), None))
            extract_tar(stream, root)
            end = _read_to_the_end(stream)
    except Exception as exc:  # a refused member, a damaged stream, the scratch disk
        if isinstance(exc, ScratchError) or (
            isinstance(exc, OSError) and exc.errno in SCRATCH_ERRNOS
        ):
            raise _Unverifiable(
                f"the restore into {root} could not be made (the controller's scratch "
                f"space, not the snapshot): {_reason(exc)}"
            ) from exc
        return f"restoring into {root} failed: {_reason(exc)}"
    return compare_on_disk(root, index.manifest_by_path(snapshot.id)) or end


def _restore_command(stream: BinaryIO, root: Path, entry: ManifestEntry | None) -> str | None:
    """A command's output written as its file, then read back from the disk."""
    if entry is None:
        return "the manifest has no entry for the command's output"
    target = root / "output"
    with target.open("xb") as file:
        while chunk := stream.read(1024 * 1024):
            file.write(chunk)
    with target.open("rb") as written:
        problem = compare_stream(_digest(written), entry)
    return None if problem is None else f"restored: {problem}"


def _read_to_the_end(stream: BinaryIO) -> str | None:
    """What follows the tar archive's end (its padding), read to the stream's end: so that the
    stored data is checked whole (a gzip member's CRC, the store tool's exit status) and the
    store's reader ends by itself rather than being stopped (a killed `restic dump` leaves its
    lock in the repository). After a difference was found, only the latter matters."""
    try:
        while stream.read(1024 * 1024):
            pass
    except Exception as exc:
        return f"the stored data is damaged after its last file: {_reason(exc)}"
    return None


def _digest(stream: BinaryIO) -> tuple[int, str]:
    digest, size = digest_stream(stream)
    return size, digest


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if " " in text else f"{type(exc).__name__}: {text}"


def check_store(store: ReadableStore, index: SnapshotIndex) -> tuple[str, ...]:
    """The store's own integrity pass (`restic check`; a local store: data files missing) over
    the snapshots the index records in it; a store that fails to run it is a problem too."""
    expected = [s for s in index.list() if s.store == store.name]
    try:
        return tuple(store.check(expected))
    except Exception as exc:
        return (f"backup store {store.name!r}: its check failed: {_reason(exc)}",)
