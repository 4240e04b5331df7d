"""The payloads of the backup events (their kinds are core/events.py's EventKind.BACKUP*):
what a run's backups did on each host, and what `jarvisctl backups verify|prune|restore` did.
Commands in them are redacted by the journal like every other command."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from enum import Enum
from typing import ClassVar, Protocol

from jarvisctl.core.events import (
    BACKUP,
    BACKUP_PRUNE,
    BACKUP_RESTORE,
    BACKUP_STORE_CHECK,
    BACKUP_VERIFY,
    EventKind,
    Fields,
)
from jarvisctl.core.frozen import frozen


class BackupOutcome(str, Enum):
    """How one backup of one host ended in a run."""

    TAKEN = "taken"  # a complete, checksummed snapshot was recorded (verified or not: see below)
    FAILED = "failed"  # no snapshot, or its verification or pruning failed: `reason` says which
    INTERRUPTED = "interrupted"  # the run's stop ended it: no snapshot was recorded
    SKIPPED = "skipped"  # not attempted (check mode, the host unreachable): `reason` says why

    def __str__(self) -> str:
        return self.value


@frozen
class Backup(Fields):
    """One backup of a host (the event's host and play): the snapshot it took, or why none.
    `what` is its paths, or its command (redacted like every command). `stage` names the step
    that failed: take, verify or prune (empty when it did not fail)."""

    kind: ClassVar[EventKind] = BACKUP
    backup: str
    store: str
    outcome: str  # a BackupOutcome value
    source: str  # paths | command
    what: tuple[str, ...]
    snapshot: str | None = None
    files: int = 0
    bytes: int = 0  # content bytes, uncompressed
    stored_bytes: int = 0  # what the store holds for it
    seconds: float = 0.0
    reason: str = ""
    stage: str = ""


@frozen
class BackupVerify(Fields):
    """A snapshot re-read (`checksum`) or restored into a scratch directory (`restore`) and
    compared with its manifest: by a run after taking it, or by `jarvisctl backups verify`."""

    kind: ClassVar[EventKind] = BACKUP_VERIFY
    backup: str
    store: str
    snapshot: str
    mode: str  # checksum | restore
    ok: bool
    state: str  # the snapshot's state after: verified | unusable (store/snapshots.SnapshotState)
    problem: str | None
    seconds: float


@frozen
class BackupPrune(Fields):
    """Retention applied to a host's backup: the snapshots kept (with the rule that kept each:
    `rules` maps id -> rule, e.g. "last", "daily 2026-12-03") and those forgotten (deleted from
    the store, then from the index). `dry_run`: nothing was deleted. `error`: what failed."""

    kind: ClassVar[EventKind] = BACKUP_PRUNE
    backup: str
    store: str
    kept: tuple[str, ...]
    forgotten: tuple[str, ...]
    rules: Mapping[str, str]
    dry_run: bool = False
    error: str | None = None


@frozen
class BackupRestore(Fields):
    """A snapshot put back on a host (`jarvisctl backups restore`, or a rollback's step):
    `to` the path it was restored under (None: in place), `check` when only listed; `files`
    in the snapshot, `changed` those written and in place when it ended (with `check`: that
    would be), `ok` and `error`. A restore that failed counts in `changed` only what it left
    restored and verified; of the rest it set out to change, `put_back` were put back as they
    were and `not_put_back` were left as the failure found them (the error names them)."""

    kind: ClassVar[EventKind] = BACKUP_RESTORE
    backup: str
    store: str
    snapshot: str
    to: str | None
    check: bool
    ok: bool
    files: int
    changed: int
    seconds: float
    error: str | None = None
    put_back: int = 0
    not_put_back: int = 0

    def counted(self, outcome: RestoreCounts | None) -> BackupRestore:
        """This payload with what the restore did, as its printed summary says it (None: it
        did nothing). A check or a success changed all it set out to; a failure only what it
        left restored and verified, the rest put back or left as the failure found it."""
        if outcome is None:
            return replace(self, changed=0, put_back=0, not_put_back=0)
        if outcome.check or outcome.ok:
            return replace(self, changed=outcome.changed, put_back=0, not_put_back=0)
        left = max(outcome.changed - outcome.restored - outcome.put_back, 0)
        return replace(self, changed=outcome.restored, put_back=outcome.put_back, not_put_back=left)


class RestoreCounts(Protocol):
    """What BackupRestore.counted reads of a restore's outcome (backup/restore.py's
    RestoreOutcome): `changed` is what it set out to change."""

    @property
    def check(self) -> bool: ...
    @property
    def ok(self) -> bool: ...
    @property
    def changed(self) -> int: ...
    @property
    def restored(self) -> int: ...
    @property
    def put_back(self) -> int: ...


@frozen
class BackupStoreCheck(Fields):
    """A backup store's own integrity pass (`restic check`; a local store: the data of each
    snapshot the index records in it is there), by `jarvisctl backups verify --all`: the
    problems it found (none: intact). No host: the event's host is None."""

    kind: ClassVar[EventKind] = BACKUP_STORE_CHECK
    store: str
    problems: tuple[str, ...]
    seconds: float
