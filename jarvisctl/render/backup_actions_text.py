"""What `jarvisctl backups verify|prune|restore` print: a line per snapshot verified, per
snapshot kept (with the rule) or forgotten, per file a restore changes (or would). Paths and
reasons come from hosts and are shown escaped (render/backups_text.escaped)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from jarvisctl.plan.model import Retention
from jarvisctl.render.backups_text import escaped, size_text, when_text
from jarvisctl.store.snapshots import Snapshot

if TYPE_CHECKING:
    from jarvisctl.backup.restore import FileChange, RestoreOutcome
    from jarvisctl.backup.retention import PruneOutcome


def verify_line(
    snapshot: Snapshot, mode: str, ok: bool, problem: str | None, seconds: float
) -> str:
    """`verified  ID  host/backup  (checksum, 1.2s)`, or UNUSABLE (or FAILED, when the
    snapshot could not be read at all and stays as it was) with the reason."""
    where = f"{escaped(snapshot.host)}/{escaped(snapshot.backup)}"
    if ok:
        return f"verified  {snapshot.id}  {where}  ({mode}, {seconds:.1f}s)"
    word = "UNUSABLE" if snapshot.state.value == "unusable" else "FAILED"
    return f"{word:<8}  {snapshot.id}  {where}: {escaped(problem or 'verification failed')}"


def store_line(store: str, problems: tuple[str, ...]) -> str:
    if not problems:
        return f"store {escaped(store)}: intact"
    return f"store {escaped(store)}: PROBLEM: " + "; ".join(escaped(p) for p in problems)


def keep_text(keep: Retention) -> str:
    rules = [(n, getattr(keep, n)) for n in ("last", "daily", "weekly", "monthly")]
    return ", ".join(f"{name} {count}" for name, count in rules if count) or "no rule"


def prune_lines(host: str, backup: str, keep: Retention, outcome: PruneOutcome) -> Iterator[str]:
    """A heading for one host's backup, then each snapshot: kept (and by which rule) or
    forgotten (or, in a dry run, that would be), newest first; a deletion that failed says
    why."""
    forgotten = outcome.plan.forget
    if not outcome.plan.keep and not forgotten:
        yield f"{escaped(host)} {escaped(backup)} (keep {keep_text(keep)}): no snapshots"
        return
    verb = "would forget" if outcome.dry_run else "forgot"
    yield (
        f"{escaped(host)} {escaped(backup)} (keep {keep_text(keep)}): "
        f"{len(outcome.plan.keep)} kept, {len(outcome.forgotten)} {verb}"
        + (f", {len(outcome.failed)} FAILED" if outcome.failed else "")
    )
    rows: list[tuple[float, str]] = [
        (
            k.snapshot.taken_at,
            f"  keep    {k.snapshot.id}  {when_text(k.snapshot.taken_at)}  {k.rule}",
        )
        for k in outcome.plan.keep
    ]
    for snapshot in forgotten:
        why = outcome.failed.get(snapshot.id)
        word = "FAILED" if why else ("forget" if outcome.dry_run else "forgot")
        tail = f": {escaped(why)}" if why else f"  {size_text(snapshot.stored_bytes)}"
        rows.append(
            (snapshot.taken_at, f"  {word:<6}  {snapshot.id}  {when_text(snapshot.taken_at)}{tail}")
        )
    for _, line in sorted(rows, key=lambda row: row[0], reverse=True):
        yield line


def undeclared_lines(undeclared: Mapping[tuple[str, str], int]) -> Iterator[str]:
    for (host, backup), count in sorted(undeclared.items()):
        yield (
            f"{escaped(host)} {escaped(backup)}: {count} snapshot(s) left alone "
            "(no play declares this backup, so no keep applies)"
        )


def restore_lines(snapshot: Snapshot, outcome: RestoreOutcome) -> Iterator[str]:
    """What changed (or, with check, would): one line per file written, then a summary."""
    # a command backup's one file is written AT --to (or in it, a directory: its change says)
    under = "to" if snapshot.source == "command" else "under"
    target = f" {under} {escaped(outcome.to)}" if outcome.to else " in place"
    verb = "would be restored" if outcome.check else "restored"
    yield (
        f"snapshot {snapshot.id} ({escaped(snapshot.backup)}, taken "
        f"{when_text(snapshot.taken_at)} UTC, {snapshot.state.value}) on "
        f"{escaped(snapshot.host)}{target}"
    )
    for leftover in outcome.leftovers:
        yield f"  {escaped(leftover.describe())}"
    if not outcome.check and not outcome.ok and outcome.changed > outcome.restored:
        yield "what it set out to change (FAILED below says what became of it):"
    yield from change_lines(outcome.changes, outcome.check)
    unchanged = outcome.files - outcome.changed
    summary = f"{_done_count(outcome)} of {outcome.files} files {verb}"
    if not outcome.check and not outcome.ok:
        summary += _undone_text(outcome)
    summary += f", {unchanged} already as in the snapshot"
    if not outcome.owners:
        summary += "; owners not restored (the host side is not root: give the backup become)"
    yield summary + f" ({outcome.seconds:.1f}s)"
    if outcome.problem:
        yield f"FAILED: {escaped(outcome.problem)}"


def _done_count(outcome: RestoreOutcome) -> int:
    """What the summary counts as restored: what would be (check), what is in place and
    verified (a restore that failed was put back, all or in part)."""
    if outcome.check or outcome.ok:
        return outcome.changed
    return outcome.restored


def _undone_text(outcome: RestoreOutcome) -> str:
    """After a failure: how many of the changes were put back, and how many were left as the
    failure found them (the FAILED line says which)."""
    text = f", {outcome.put_back} put back as they were" if outcome.put_back else ""
    left = outcome.changed - outcome.restored - outcome.put_back
    if left > 0:
        text += f", {left} not put back (see below)"
    return text


def change_lines(changes: Iterable[FileChange], check: bool) -> Iterator[str]:
    """Each file a restore writes (or would): created, or replaced and what differed."""
    for change in changes:
        if change.change.value == "unchanged":
            continue
        why = f" ({', '.join(change.differs)} differs)" if change.differs else ""
        yield f"  {change.change.value:<7} {escaped(change.path)}{why}"
