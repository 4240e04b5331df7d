"""Putting a snapshot back on a host over SSH, with nothing there but POSIX sh, coreutils (or
busybox) and tar.

The steps, each one command: read what the host has at every path of the snapshot (digest,
type, mode, owner); from that, what changes (`check` stops here and lists it); make the
directories; stream the changing entries through `tar -x`, each written BESIDE its target under
a hidden temporary name (the controller checks every file's digest against the manifest on the
way); rename each into place, the file it replaces kept aside beside it (a hard link, so the
replacement is atomic); read every restored path again on the host and compare it with the
manifest; then remove what was kept aside, or, when anything differs, put it all back and say
which file failed.

A failure of the stored data or of a host step is a value (`RestoreOutcome.problem`), after
the host was put back; so is a connection lost mid-restore (the undo reaches the host again if
it can, else the problem names what is left there). Ctrl-C puts the host back, then goes on.
Refusals (an unusable snapshot, a command backup without `to`, a relative `to`) raise
RestoreRefusedError; a host that cannot be read at all raises UnreachableError, as everywhere.
"""

from __future__ import annotations

import contextlib
import posixpath
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import BinaryIO, Protocol

from jarvisctl.backup.restore_host import batched, q
from jarvisctl.backup.restore_plan import (
    Change,
    FileChange,
    Placed,
    RestoreRefusedError,
    ancestors_outside,
    compare,
    hardlink_digests,
    hardlink_groups,
    host_root,
    latest_entries,
    linked_ancestor_lines,
    parents_outside,
    place,
    refuse_under_links,
)
from jarvisctl.backup.restore_state import HostEntry
from jarvisctl.backup.restore_steps import HostSteps, Leftover, StepError, undo_lines
from jarvisctl.backup.restore_stream import tar_for_host
from jarvisctl.connection.base import Connection
from jarvisctl.core.errors import SessionInterruptedError, UnreachableError
from jarvisctl.core.frozen import frozen
from jarvisctl.store.snapshots import (
    EntryType,
    ManifestEntry,
    Snapshot,
    SnapshotIndex,
    SnapshotState,
)

__all__ = ["FileChange", "RestoreOutcome", "RestoreRefusedError", "restore_snapshot"]

# Seconds each host step may take: a floor, plus the time to move and hash the data slowly.
_BASE_TIMEOUT = 300.0
_SLOW_BYTES_PER_SECOND = 2 * 1024 * 1024
# Seconds between attempts to reach a host again to undo a restore whose connection was lost.
_RECONNECT_WAITS = (1.0, 2.0, 4.0, 8.0)


class ReadableStore(Protocol):
    """What a restore needs of a backup store (backup/stores/base.py's BackupStore has it)."""

    name: str

    def open(self, snapshot: Snapshot) -> AbstractContextManager[BinaryIO]: ...


@frozen
class RestoreOutcome:
    """What a restore did (or, with `check`, would do) on one host, per file."""

    snapshot: str
    host: str
    to: str | None
    check: bool
    ok: bool
    changes: tuple[FileChange, ...]  # one per manifest entry, in the manifest's order
    seconds: float
    problem: str | None = None  # why it failed, naming the file; the host was put back
    owners: bool = True  # owners compared and restored (False: the host side was not root)
    restored: int = 0  # of the changes: in place and verified when it ended (check: none)
    put_back: int = 0  # of the changes: undone after a failure (the rest: as the failure left)
    leftovers: tuple[Leftover, ...] = ()  # what killed restores left there, and its fate

    @property
    def files(self) -> int:
        return len(self.changes)

    @property
    def changed(self) -> int:
        return sum(1 for c in self.changes if c.change is not Change.UNCHANGED)


def restore_snapshot(
    connection: Connection,
    snapshot: Snapshot,
    store: ReadableStore,
    index: SnapshotIndex,
    *,
    to: str | None,
    check: bool,
    become: bool,
    timeout: float | None = None,
) -> RestoreOutcome:
    """Restore `snapshot` on the connection's host (under `to`, or a command backup's file AT
    `to`); with `check`, change nothing and list what would change."""
    started = time.monotonic()
    _refuse_unusable(snapshot)
    root = host_root(to)
    if snapshot.source == "command" and root is None:
        raise RestoreRefusedError(
            f"snapshot {snapshot.id} is a command backup ({snapshot.backup!r}: the output of a "
            "command, such as a database dump); give --to PATH, the file on the host to write "
            "it to, then load it with the tool that reads it (psql, pg_restore, sqlite3...)"
        )
    steps = HostSteps(
        connection,
        become=become,
        timeout=timeout or _BASE_TIMEOUT + snapshot.bytes / _SLOW_BYTES_PER_SECOND,
    )
    entries = latest_entries(index.manifest(snapshot.id))
    token = secrets.token_hex(4)
    swept: tuple[Leftover, ...] = ()
    try:
        single = _command_target(steps, root, entries) if snapshot.source == "command" else None
        placed = place(entries, root, token, single=single)
        refuse_under_links(placed)
        swept = steps.leftovers(placed, remove=not check)  # `check` changes nothing: listed
        owners, before = steps.state([p.path for p in placed])
    except StepError as exc:
        return replace(_failed(snapshot, to, check, (), started, str(exc)), leftovers=swept)
    above = linked_ancestor_lines(ancestors_outside(placed))
    problem = steps.step(above, "checking the directories above the restored paths")
    if problem is not None:
        return replace(_failed(snapshot, to, check, (), started, problem), leftovers=swept)
    changes = _changes(placed, before, owners=owners)
    restore = _Restore(snapshot, store, steps, placed, before, owners, to, token)
    if check or all(c.change is Change.UNCHANGED for c in changes):
        outcome = restore.outcome(check, changes, started, None)
    else:
        outcome = restore.outcome(check, changes, started, restore.apply(changes))
    return replace(outcome, leftovers=swept)


def _refuse_unusable(snapshot: Snapshot) -> None:
    if snapshot.state is SnapshotState.UNUSABLE:
        raise RestoreRefusedError(
            f"snapshot {snapshot.id} ({snapshot.host}, {snapshot.backup!r}) is unusable: "
            f"{snapshot.problem or 'a verification failed'}; it is never restored from: "
            f"choose another with --snapshot (see `jarvisctl backups list {snapshot.host}`)"
        )


def _command_target(steps: HostSteps, root: str | None, entries: Sequence[ManifestEntry]) -> str:
    """Where a command backup's one file goes: `to` itself, or inside it when it is a
    directory on the host."""
    assert root is not None
    if len(entries) != 1:
        raise StepError(f"a command backup has one file; its manifest lists {len(entries)}")
    _, (now,) = steps.state([root])
    if now.type == "dir":
        name = posixpath.basename(entries[0].path) or "restored"
        return posixpath.join(root, name)
    return root


def _changes(
    placed: Sequence[Placed], now: Sequence[HostEntry], *, owners: bool
) -> tuple[FileChange, ...]:
    digests = hardlink_digests(placed)
    changes = []
    for p, there in zip(placed, now, strict=True):
        change, differs = compare(p.entry, there, owners=owners, digest=digests.get(p.index))
        changes.append(FileChange(p.path, p.entry.type, change, differs))
    return tuple(changes)


def _grouped(placed: Sequence[Placed], key: Callable[[Placed], str]) -> dict[str, list[Placed]]:
    groups: dict[str, list[Placed]] = {}
    for p in placed:
        groups.setdefault(key(p), []).append(p)
    return groups


def _failed(
    snapshot: Snapshot,
    to: str | None,
    check: bool,
    changes: tuple[FileChange, ...],
    started: float,
    problem: str,
) -> RestoreOutcome:
    return RestoreOutcome(
        snapshot.id, snapshot.host, to, check, False, changes, time.monotonic() - started, problem
    )


class _Restore:
    """One restore's host steps after the plan: prepare, extract, commit, verify, settle."""

    def __init__(
        self,
        snapshot: Snapshot,
        store: ReadableStore,
        steps: HostSteps,
        placed: list[Placed],
        before: list[HostEntry],
        owners: bool,
        to: str | None,
        token: str,
    ) -> None:
        self.snapshot, self.store, self.steps = snapshot, store, steps
        self.placed, self.before, self.owners, self.to = placed, before, owners, to
        self.token = token  # in every temporary and kept-aside name of this restore
        self.changing: set[int] = set()  # the indices whose change apply() writes
        self.restored = self.put_back = 0  # counted as apply() ends, for the outcome

    def outcome(
        self, check: bool, changes: tuple[FileChange, ...], started: float, problem: str | None
    ) -> RestoreOutcome:
        return RestoreOutcome(
            self.snapshot.id,
            self.snapshot.host,
            self.to,
            check,
            problem is None,
            changes,
            time.monotonic() - started,
            problem,
            self.owners,
            self.restored,
            self.put_back,
        )

    def apply(self, changes: tuple[FileChange, ...]) -> str | None:
        """Do the restore; None when done and verified, else why it failed (host put back).
        Interrupted (Ctrl-C), it puts the host back before it lets the interruption go on."""
        changed = {i for i, c in enumerate(changes) if c.change is not Change.UNCHANGED}
        self.changing = changed
        dirs = [
            self.placed[i]
            for i in sorted(changed, key=lambda i: (self.placed[i].path.count("/"), i))
            if self.placed[i].entry.type is EntryType.DIR
        ]
        files = [
            self.placed[i]
            for i in sorted(hardlink_groups(self.placed, changed))
            if self.placed[i].entry.type is not EntryType.DIR
        ]
        try:
            problem = (
                self._prepare(dirs, files)
                or self._extract(files)
                or self._commit(dirs, files)
                or self._verify([*dirs, *files])
            )
        except (KeyboardInterrupt, SessionInterruptedError):
            with contextlib.suppress(Exception):
                self._undo(dirs, files)
            raise
        except UnreachableError as exc:  # the undo connects again, if the host lets it
            lost = f"the connection was lost during the restore ({exc})"
            return lost + self._undo(dirs, files, waits=_RECONNECT_WAITS)
        if problem is not None:
            return problem + self._undo(dirs, files)
        self.restored = len(changed)  # verified: kept, whatever removing the old copies says
        return self._settle([*dirs, *files])

    def _prepare(self, dirs: list[Placed], files: list[Placed]) -> str | None:
        lines = [f"mkdir -p -- {q(d)} || exit 3" for d in parents_outside([*dirs, *files])]
        lines += [f"d {q(p.path)} {q(p.kept)}" for p in dirs]
        return self.steps.step(lines, "making the directories")

    def _extract(self, files: list[Placed]) -> str | None:
        if not files:
            return None
        sending = {p.index for p in files}
        raw = self.snapshot.source == "command"
        try:
            with self.store.open(self.snapshot) as source:
                done = self.steps.extract(tar_for_host(source, self.placed, sending, raw=raw))
        except (UnreachableError, KeyboardInterrupt):
            raise
        except Exception as exc:  # the store's or the data's failure, raised through the stream
            return f"reading snapshot {self.snapshot.id} from store {self.store.name!r}: {exc}"
        return None if done.ok else done.why("writing the files (tar -x)")

    def _commit(self, dirs: list[Placed], files: list[Placed]) -> str | None:
        lines: list[str] = []
        if self.owners:
            for owner, group in _grouped(files, _owner).items():
                lines += batched(f"chown -h -- {q(owner)}", (p.temporary for p in group))
        not_links = [p for p in files if p.entry.type is not EntryType.SYMLINK]
        for mode, group in _grouped(not_links, _mode).items():
            lines += batched(f"chmod -- {mode}", (p.temporary for p in group))
        lines += [f"c {q(p.temporary)} {q(p.path)} {q(p.kept)}" for p in files]
        # the deepest directory first: a parent's new mode may forbid entering it
        owned = self.owners
        lines += [f"a {q(p.path)} {q(_owner(p) if owned else '')} {_mode(p)}" for p in dirs[::-1]]
        return self.steps.step(lines, "renaming the files into place")

    def _verify(self, placed: list[Placed]) -> str | None:
        """Every restored path read again on the host, compared with the manifest."""
        try:
            _, now = self.steps.state([p.path for p in placed])
        except StepError as exc:
            return f"verifying the restore: {exc}"
        digests = hardlink_digests(self.placed)
        for p, there in zip(placed, now, strict=True):
            change, differs = compare(
                p.entry, there, owners=self.owners, digest=digests.get(p.index)
            )
            if change is not Change.UNCHANGED:
                what = ", ".join(differs) or "it is missing"
                return f"{p.path!r} does not match the snapshot after the restore ({what})"
        return None

    def _undo(self, dirs: list[Placed], files: list[Placed], *, waits: Sequence[float] = ()) -> str:
        """Put the host back; what to add to the problem's text. `waits`: seconds to wait
        before each further attempt while the host cannot be reached (a connection that was
        just lost may come back: a reset, sshd restarting)."""
        lines = undo_lines(files, dirs, self.before, owners=self.owners)
        failed: list[str] | None = None
        error: Exception | None = None
        for wait in [0.0, *waits]:
            time.sleep(wait)
            try:
                failing = set(self.steps.undo(lines))
                failed = [self.placed[i].path for i in sorted(failing)]
                self.put_back = len(self.changing - failing)
                break
            except UnreachableError as exc:
                error = exc
            except StepError as exc:
                error = exc
                break
        if failed is None:
            return (
                f"; putting the files back failed too ({error}): on the host, the originals are "
                f".jarvisctl-old-{self.token}-N beside their targets, the restore's own files "
                f".jarvisctl-new-{self.token}-N"
            )
        if not failed:
            return "; nothing was changed (the files it replaced were put back)"
        return f"; these could not be put back: {failed!r} (see .jarvisctl-old-* beside them)"

    def _settle(self, placed: list[Placed]) -> str | None:
        """Remove what was kept aside: the restore is verified."""
        lines = list(batched("rm -rf --", (p.kept for p in placed)))
        problem = self.steps.step(lines, "removing the files kept aside")
        return None if problem is None else problem + " (the restore itself is done)"


def _owner(placed: Placed) -> str:
    return f"{placed.entry.uid}:{placed.entry.gid}"


def _mode(placed: Placed) -> str:
    return f"{placed.entry.mode & 0o7777:04o}"
