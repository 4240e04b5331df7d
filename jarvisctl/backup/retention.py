"""Retention: which snapshots a backup's `keep:` keeps, and deleting the others.

The calendar rules count as restic's `forget --keep-*` does (internal/restic/snapshot_policy.go,
ApplyPolicy): the snapshots of one host's backup, newest first; `last N` keeps the N newest;
`daily N` keeps the newest snapshot of each of the N newest calendar days that have one (UTC),
`weekly` of ISO weeks, `monthly` of months; the rules are independent (one snapshot can satisfy
several) and a snapshot is kept when any rule keeps it. As restic does since 0.16, a rule that
has days (weeks, months) left when it reaches the oldest snapshot keeps that one too, so that the
history is as long as the rule allows. No rule at all keeps everything, as in restic.

What this issue adds, so that a backup is only counted when it is known to restore:
- Only VERIFIED snapshots are counted by the rules. A verified snapshot is never forgotten in
  favour of one that was not proven.
- An UNUSABLE snapshot is never counted and never pruned (it is the evidence of a failure, and
  it must never push an older good snapshot out of its day); `forget_unusable=True` forgets them
  (an operator's explicit choice).
- An UNVERIFIED snapshot newer than the newest verified one is kept (its verification is still
  to come); one older than it is forgotten: it was never proven, and verified snapshots fill the
  policy.
- The newest verified snapshot is always kept.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from jarvisctl.core.frozen import frozen
from jarvisctl.plan.model import Retention
from jarvisctl.store.snapshots import Snapshot, SnapshotIndex, SnapshotState

UNUSABLE_RULE = "unusable: counted by no rule, never pruned"
PENDING_RULE = "unverified, newer than the newest verified: its verification is to come"
NO_RULE = "no keep rule"


@frozen
class Kept:
    snapshot: Snapshot
    rules: tuple[str, ...]  # why, e.g. ("last", "daily 2026-12-03", "weekly 2026-W49")

    @property
    def rule(self) -> str:
        return ", ".join(self.rules)


@frozen
class PrunePlan:
    keep: tuple[Kept, ...]  # newest first
    forget: tuple[Snapshot, ...]  # newest first

    @property
    def rules(self) -> Mapping[str, str]:
        """Snapshot id -> the rules that kept it (BackupPrune.rules)."""
        return {k.snapshot.id: k.rule for k in self.keep}


def _day(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%d")


def _week(t: datetime.datetime) -> str:
    year, week, _ = t.isocalendar()
    return f"{year}-W{week:02d}"


def _month(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m")


_CALENDAR: tuple[tuple[str, Callable[[datetime.datetime], str]], ...] = (
    ("daily", _day),
    ("weekly", _week),
    ("monthly", _month),
)


@dataclass
class _Rule:
    """One keep rule while counting (a working value, never returned)."""

    name: str
    left: int
    bucket: Callable[[datetime.datetime], str] | None  # None: `last`, every snapshot its own
    previous: str | None = None

    def keeps(self, taken: datetime.datetime, oldest: bool) -> str | None:
        if self.left <= 0:
            return None
        if self.bucket is None:
            self.left -= 1
            return self.name
        value = self.bucket(taken)
        if value == self.previous and not oldest:
            return None
        self.left -= 1
        fresh, self.previous = value != self.previous, value
        return f"{self.name} {value}" + ("" if fresh else " (oldest)")


def _rules(keep: Retention) -> list[_Rule]:
    rules = [_Rule("last", keep.last or 0, None)]
    counts = {"daily": keep.daily, "weekly": keep.weekly, "monthly": keep.monthly}
    rules += [_Rule(name, counts[name] or 0, bucket) for name, bucket in _CALENDAR]
    return [r for r in rules if r.left > 0]


def _newest_first(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    return sorted(snapshots, key=lambda s: (s.taken_at, s.id), reverse=True)


def _count(verified: list[Snapshot], keep: Retention) -> dict[str, tuple[str, ...]]:
    """restic's ApplyPolicy over the verified snapshots (newest first): id -> rules."""
    rules = _rules(keep)
    if not rules:
        return {s.id: (NO_RULE,) for s in verified}
    kept: dict[str, tuple[str, ...]] = {}
    for n, snapshot in enumerate(verified):
        taken = datetime.datetime.fromtimestamp(snapshot.taken_at, datetime.timezone.utc)
        oldest = n == len(verified) - 1
        matched = tuple(m for rule in rules if (m := rule.keeps(taken, oldest)) is not None)
        if matched:
            kept[snapshot.id] = matched
    return kept


def _plan_group(
    snapshots: list[Snapshot], keep: Retention, forget_unusable: bool
) -> tuple[list[Kept], list[Snapshot]]:
    verified = [s for s in snapshots if s.state is SnapshotState.VERIFIED]
    # every rule keeps the newest verified snapshot (its day, week, month is the first met), and
    # no rule keeps them all: the newest verified snapshot is always kept
    rules = _count(verified, keep)
    newest_verified = verified[0].taken_at if verified else None
    kept: list[Kept] = []
    forgotten: list[Snapshot] = []
    for snapshot in snapshots:
        if snapshot.id in rules:
            kept.append(Kept(snapshot, rules[snapshot.id]))
        elif snapshot.state is SnapshotState.UNUSABLE and not forget_unusable:
            kept.append(Kept(snapshot, (UNUSABLE_RULE,)))
        elif snapshot.state is SnapshotState.UNVERIFIED and (
            newest_verified is None or snapshot.taken_at > newest_verified
        ):
            kept.append(Kept(snapshot, (PENDING_RULE,)))
        else:
            forgotten.append(snapshot)
    return kept, forgotten


def plan_prune(
    snapshots: Iterable[Snapshot],
    keep: Retention,
    now: float,
    *,
    forget_unusable: bool = False,
) -> PrunePlan:
    """Which snapshots `keep` keeps (with the rules that kept each) and which it forgets,
    counted per host and backup. The calendar rules count from the newest snapshot, as restic's
    do, not from `now`; `now` only guards against a stamp from the future (a controller whose
    clock was ahead): such a snapshot is kept and counted by no rule until its time has come."""
    groups: dict[tuple[str, str], list[Snapshot]] = {}
    for snapshot in _newest_first(snapshots):
        groups.setdefault((snapshot.host, snapshot.backup), []).append(snapshot)
    kept: list[Kept] = []
    forgotten: list[Snapshot] = []
    for group in groups.values():
        future = [s for s in group if s.taken_at > now]
        group_kept, group_forgotten = _plan_group(
            [s for s in group if s.taken_at <= now], keep, forget_unusable
        )
        kept += [Kept(s, (f"taken after now ({_stamp(s.taken_at)})",)) for s in future]
        kept += group_kept
        forgotten += group_forgotten
    return PrunePlan(tuple(_by_time(kept)), tuple(_newest_first(forgotten)))


def _by_time(kept: list[Kept]) -> list[Kept]:
    return sorted(kept, key=lambda k: (k.snapshot.taken_at, k.snapshot.id), reverse=True)


def _stamp(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


class DeletingStore(Protocol):
    """What prune needs of a backup store (backup/stores/base.py's BackupStore has it)."""

    @property
    def name(self) -> str: ...

    def delete(self, snapshot: Snapshot) -> None: ...


@frozen
class PruneOutcome:
    plan: PrunePlan
    dry_run: bool
    forgotten: tuple[str, ...] = ()  # deleted from the store and the index (or would be)
    failed: Mapping[str, str] = field(default_factory=dict)  # id -> why it is still there

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def error(self) -> str | None:
        """The failures in one line, None when there was none."""
        if not self.failed:
            return None
        return "; ".join(f"{sid}: {why}" for sid, why in self.failed.items())


def prune(
    store: DeletingStore, index: SnapshotIndex, plan: PrunePlan, *, dry_run: bool = False
) -> PruneOutcome:
    """Forget what `plan` forgets: the data from the store first, then the index entry, so that
    an interrupted prune leaves an entry whose data may be gone (removed again by the next
    prune: deleting is idempotent on both sides), never data that no entry names. A snapshot
    whose deletion fails stays in the index, with the reason in the outcome; the others go on."""
    if dry_run:
        return PruneOutcome(plan, True, tuple(s.id for s in plan.forget))
    forgotten: list[str] = []
    failed: dict[str, str] = {}
    for snapshot in plan.forget:
        problem = _forget(store, index, snapshot)
        if problem is None:
            forgotten.append(snapshot.id)
        else:
            failed[snapshot.id] = problem
    return PruneOutcome(plan, False, tuple(forgotten), failed)


def _forget(store: DeletingStore, index: SnapshotIndex, snapshot: Snapshot) -> str | None:
    if snapshot.store != store.name:
        return f"it is in the backup store {snapshot.store!r}, not in {store.name!r}"
    try:
        store.delete(snapshot)
    except Exception as exc:  # a store's failure is this snapshot's, never the prune's end
        return f"the store could not delete it: {exc}"
    index.remove(snapshot.id)
    return None
