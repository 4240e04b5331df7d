"""A host's backups as the reports see them, folded from its journal records: the take
(`backup`), then its verification (`backup_verify`) and retention (`backup_prune`), which the
engine records in that order. A backup is failed when any of the three failed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from jarvisctl.core.backup_events import BackupOutcome
from jarvisctl.core.events import BACKUP, BACKUP_RESTORE, BACKUP_VERIFY
from jarvisctl.core.frozen import frozen

FAILED = BackupOutcome.FAILED.value


@frozen
class VerifyEntry:
    mode: str  # checksum | restore
    ok: bool
    state: str  # the snapshot's state after it: verified | unusable
    problem: str | None
    seconds: float | None


@frozen
class PruneEntry:
    kept: tuple[str, ...]
    forgotten: tuple[str, ...]
    rules: Mapping[str, str]  # kept id -> the rule that kept it
    error: str | None


@frozen
class BackupEntry:
    name: str
    store: str
    outcome: str  # taken | failed | interrupted | skipped (BackupOutcome), all stages counted
    source: str
    what: tuple[str, ...]  # paths, or the (redacted) command
    snapshot: str | None
    files: int
    bytes: int
    stored_bytes: int
    seconds: float | None
    reason: str
    stage: str  # where a failed backup failed: take, verify, prune
    verify: VerifyEntry | None = None
    prune: PruneEntry | None = None

    @property
    def failed(self) -> bool:
        return self.outcome == FAILED


def backup_entry(data: Mapping[str, Any]) -> BackupEntry:
    outcome = str(data.get("outcome", ""))
    return BackupEntry(
        name=str(data.get("backup", "")),
        store=str(data.get("store", "")),
        outcome=outcome,
        source=str(data.get("source", "")),
        what=tuple(str(w) for w in data.get("what") or ()),
        snapshot=_text_or_none(data.get("snapshot")),
        files=_count(data.get("files")),
        bytes=_count(data.get("bytes")),
        stored_bytes=_count(data.get("stored_bytes")),
        seconds=_seconds(data.get("seconds")),
        reason=str(data.get("reason") or ""),
        stage=str(data.get("stage") or ("take" if outcome == FAILED else "")),
    )


def with_verify(entry: BackupEntry, data: Mapping[str, Any]) -> BackupEntry:
    problem = _text_or_none(data.get("problem"))
    verify = VerifyEntry(
        mode=str(data.get("mode", "")),
        ok=data.get("ok") is True,
        state=str(data.get("state", "")),
        problem=problem,
        seconds=_seconds(data.get("seconds")),
    )
    if verify.ok:
        return replace(entry, verify=verify)
    reason = f"verification ({verify.mode}) failed: {problem or 'no reason recorded'}"
    return replace(entry, verify=verify, outcome=FAILED, stage="verify", reason=reason)


def with_prune(entry: BackupEntry, data: Mapping[str, Any]) -> BackupEntry:
    rules = data.get("rules")
    prune = PruneEntry(
        kept=tuple(str(i) for i in data.get("kept") or ()),
        forgotten=tuple(str(i) for i in data.get("forgotten") or ()),
        rules={str(k): str(v) for k, v in rules.items()} if isinstance(rules, Mapping) else {},
        error=_text_or_none(data.get("error")),
    )
    if prune.error is None:
        return replace(entry, prune=prune)
    reason = f"pruning failed: {prune.error}"
    return replace(entry, prune=prune, outcome=FAILED, stage="prune", reason=reason)


def size_text(count: int) -> str:
    """Bytes as the reports show them: 512 B, 1.5 KiB, 12.0 MiB."""
    size, unit = float(count), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{count} B" if unit == "B" else f"{size:.1f} {unit}"


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def entry_text(entry: BackupEntry) -> str:
    """A backup as the reports say it in one line: `taken 12.0 MiB (3.1 MiB stored), 120
    files, 2.31s, verified (restore), pruned 2, snapshot ID`, or how and why it failed."""
    if entry.snapshot is None:
        stage = f" at {entry.stage}" if entry.failed and entry.stage else ""
        return f"{entry.outcome}{stage}: {entry.reason}"
    parts = [
        f"taken {size_text(entry.bytes)} ({size_text(entry.stored_bytes)} stored)",
        f"{entry.files} files",
    ]
    if entry.seconds is not None:
        parts.append(f"{entry.seconds:.2f}s")
    if entry.verify is not None:
        word = "verified" if entry.verify.ok else "NOT verified"
        parts.append(f"{word} ({entry.verify.mode})")
    if entry.prune is not None and entry.prune.error is None:
        parts.append(f"pruned {len(entry.prune.forgotten)}")
    parts.append(f"snapshot {entry.snapshot}")
    line = ", ".join(parts)
    return f"failed at {entry.stage}: {entry.reason}; {line}" if entry.failed else line


# The session a backup action's hosts are recorded under (app/backup_journal.py's PLAY): its
# records name the host and no play.
ACTIONS_PLAY = "backups"


@frozen
class BackupAction:
    """A backup action taken from a front door (`backups verify|prune|restore`), or a
    verification or pruning with no take of its backup before it in the journal."""

    action: str  # verify | prune | restore
    backup: str
    store: str
    snapshot: str | None
    ok: bool
    summary: str  # one line: what it did, or why it failed
    record: Mapping[str, Any]  # the journal's record of it, as written


def backup_action(kind: str, data: Mapping[str, Any]) -> BackupAction:
    action = kind.removeprefix("backup_")
    summary, ok = _SUMMARIES.get(action, _unknown)(data)
    snapshot = _text_or_none(data.get("snapshot"))
    backup, store = str(data.get("backup", "")), str(data.get("store", ""))
    return BackupAction(action, backup, store, snapshot, ok, summary, dict(data))


def _verify_summary(data: Mapping[str, Any]) -> tuple[str, bool]:
    ok = data.get("ok") is True
    head = f"verify ({data.get('mode', '')}) of {data.get('snapshot', '')}"
    return (f"{head}: verified" if ok else f"{head}: FAILED: {data.get('problem')}"), ok


def _prune_summary(data: Mapping[str, Any]) -> tuple[str, bool]:
    kept, forgotten = len(data.get("kept") or ()), len(data.get("forgotten") or ())
    dry = " (dry run: nothing deleted)" if data.get("dry_run") else ""
    text = f"prune{dry}: kept {kept}, forgot {forgotten}"
    error = data.get("error")
    return (f"{text}; FAILED: {error}" if error else text), not error


def _restore_summary(data: Mapping[str, Any]) -> tuple[str, bool]:
    ok = data.get("ok") is True
    to = f" to {data['to']}" if data.get("to") else ""
    check = " (check: nothing written)" if data.get("check") else ""
    head = f"restore of {data.get('snapshot', '')}{to}{check}"
    if not ok:
        return f"{head}: FAILED: {data.get('error')}", False
    changed, files = _count(data.get("changed")), _count(data.get("files"))
    word = "would change" if data.get("check") else "changed"
    return f"{head}: {changed} of {files} files {word}", True


def _unknown(data: Mapping[str, Any]) -> tuple[str, bool]:
    return "an action this release does not know", data.get("ok") is not False


_SUMMARIES = {"verify": _verify_summary, "prune": _prune_summary, "restore": _restore_summary}


class BackupFold:
    """A host's backup records within one session, folded as they come: each take with its
    verification and pruning, and the actions of their own."""

    def __init__(self) -> None:
        self.backups: list[BackupEntry] = []
        self.actions: list[BackupAction] = []

    def add(self, kind: str, data: Mapping[str, Any]) -> BackupEntry | None:
        """Fold one record; the backup it makes failed, if it does."""
        if kind == BACKUP:
            self.backups.append(backup_entry(data))
            return self.backups[-1] if self.backups[-1].failed else None
        name = str(data.get("backup", ""))
        for i in range(len(self.backups) - 1, -1, -1):  # the latest take of its backup
            if self.backups[i].name == name and kind != BACKUP_RESTORE:
                stage = with_verify if kind == BACKUP_VERIFY else with_prune
                self.backups[i] = stage(self.backups[i], data)
                return self.backups[i] if self.backups[i].failed else None
        self.actions.append(backup_action(kind, data))  # no take before it: the CLI's
        return None
