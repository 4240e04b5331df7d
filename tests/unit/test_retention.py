"""Retention counts as restic's `forget --keep-*` does (calendar days, ISO weeks, months, UTC,
from the newest snapshot), over the verified snapshots only: an unusable snapshot never pushes
an older good one out, and the newest verified one is never forgotten. The snapshots are
recorded in a real state store at the times a fake clock gives (tests/fakes.py)."""

from __future__ import annotations

import calendar
import random
import time
from dataclasses import replace
from pathlib import Path

import pytest

from jarvisctl.backup.retention import (
    PENDING_RULE,
    UNUSABLE_RULE,
    PrunePlan,
    plan_prune,
    prune,
)
from jarvisctl.plan.model import Retention
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import Snapshot, SnapshotIndex, SnapshotState
from tests.fakes import FakeClock


def epoch(stamp: str) -> float:
    """'2026-11-08 23:30' in UTC."""
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M")))


# The Must-show schedule: 20 snapshots over 60 days (2026-10-05 .. 2026-12-03), numbered from
# the oldest. Two on one day (17, 18), and pairs either side of an ISO week's end (Sunday 23:30
# and Monday 00:30/00:10, UTC), where weeks starting on Sunday, or local time, would count
# differently.
SCHEDULE = (
    "2026-10-05 02:00",  # 1  Mon, W41
    "2026-10-09 02:00",  # 2  Fri, W41
    "2026-10-14 02:00",  # 3  Wed, W42
    "2026-10-20 02:00",  # 4  Tue, W43
    "2026-10-27 02:00",  # 5  Tue, W44
    "2026-11-02 02:00",  # 6  Mon, W45
    "2026-11-08 23:30",  # 7  Sun, W45
    "2026-11-09 00:30",  # 8  Mon, W46
    "2026-11-15 23:30",  # 9  Sun, W46
    "2026-11-16 00:10",  # 10 Mon, W47
    "2026-11-22 02:00",  # 11 Sun, W47
    "2026-11-24 02:00",  # 12 Tue, W48
    "2026-11-26 02:00",  # 13 Thu, W48
    "2026-11-27 02:00",  # 14 Fri, W48
    "2026-11-28 02:00",  # 15 Sat, W48
    "2026-11-30 02:00",  # 16 Mon, W49
    "2026-12-01 02:00",  # 17 Tue, W49
    "2026-12-01 14:00",  # 18 Tue, W49
    "2026-12-02 02:00",  # 19 Wed, W49
    "2026-12-03 02:00",  # 20 Thu, W49
)
KEEP = Retention(last=3, daily=7, weekly=4)
# Counted by hand, newest first:
EXPECTED = {
    "s20": "last, daily 2026-12-03, weekly 2026-W49",  # newest: every rule starts with it
    "s19": "last, daily 2026-12-02",  # 2nd newest; W49 already has s20
    "s18": "last, daily 2026-12-01",  # 3rd newest (last 3 used up); newest of 12-01
    # s17: 12-01 again (s18 is that day's), W49 again: forgotten
    "s16": "daily 2026-11-30",  # 4th day
    "s15": "daily 2026-11-28, weekly 2026-W48",  # 5th day; newest of W48 (Mon 11-23..Sun 11-29)
    "s14": "daily 2026-11-27",  # 6th day
    "s13": "daily 2026-11-26",  # 7th day (daily 7 used up); s12 is the 8th: forgotten
    "s11": "weekly 2026-W47",  # newest of W47 (Mon 11-16..Sun 11-22): Sunday 11-22
    # s10 (Mon 11-16 00:10) is in W47 too: forgotten
    "s9": "weekly 2026-W46",  # newest of W46: Sunday 11-15 23:30 (weekly 4 used up)
    # s8 .. s1: older than every rule reaches (no rule has counts left at the oldest)
}


def snapshot(sid: str, taken_at: float, *, host: str = "h1", backup: str = "etc") -> Snapshot:
    return Snapshot(
        id=sid,
        host=host,
        backup=backup,
        play="p",
        store="local",
        location=f"/backups/{sid}",
        taken_at=taken_at,
        seconds=1.0,
        source="paths",
        compress="gzip",
        files=1,
        bytes=1,
        stored_bytes=1,
    )


def take_on_schedule(index: SnapshotIndex, clock: FakeClock, stamps: tuple[str, ...]) -> None:
    """Each snapshot taken and verified when the clock reaches its stamp."""
    for n, stamp in enumerate(stamps, 1):
        clock.advance(epoch(stamp) - clock.now())
        index.add(snapshot(f"s{n}", clock.now()), ())
        clock.advance(60)
        index.mark(f"s{n}", SnapshotState.VERIFIED, clock.now())


def kept(plan: PrunePlan) -> dict[str, str]:
    return {k.snapshot.id: k.rule for k in plan.keep}


def test_twenty_snapshots_over_sixty_days_keep_exactly_the_expected_set(tmp_path: Path) -> None:
    index = open_store(tmp_path).snapshots
    clock = FakeClock(epoch(SCHEDULE[0]) - 3600)
    take_on_schedule(index, clock, SCHEDULE)
    clock.advance(3600)
    snapshots = index.list(host="h1", backup="etc")
    assert len(snapshots) == 20
    assert snapshots[-1].taken_at - snapshots[0].taken_at == -(
        epoch(SCHEDULE[-1]) - epoch(SCHEDULE[0])
    )

    plan = plan_prune(snapshots, KEEP, clock.now())

    assert kept(plan) == EXPECTED
    assert [k.snapshot.id for k in plan.keep] == list(EXPECTED)  # newest first
    assert [s.id for s in plan.forget] == [
        "s17",
        "s12",
        "s10",
        "s8",
        "s7",
        "s6",
        "s5",
        "s4",
        "s3",
        "s2",
        "s1",
    ]
    assert plan.rules == EXPECTED


def test_an_unusable_snapshot_is_kept_and_counted_by_no_rule() -> None:
    """A corrupted newest snapshot: the older good one stays as `last 1`, and the bad one is not
    deleted either (it is evidence until an operator forgets it)."""
    good = replace(snapshot("good", epoch("2026-12-01 02:00")), state=SnapshotState.VERIFIED)
    bad = replace(snapshot("bad", epoch("2026-12-02 02:00")), state=SnapshotState.UNUSABLE)
    older = replace(snapshot("older", epoch("2026-11-30 02:00")), state=SnapshotState.VERIFIED)
    plan = plan_prune([good, bad, older], Retention(last=1), epoch("2026-12-03 00:00"))
    assert kept(plan) == {"bad": UNUSABLE_RULE, "good": "last"}
    assert [s.id for s in plan.forget] == ["older"]
    plan = plan_prune(
        [good, bad, older], Retention(last=1), epoch("2026-12-03 00:00"), forget_unusable=True
    )
    assert kept(plan) == {"good": "last"} and [s.id for s in plan.forget] == ["bad", "older"]


def test_an_unusable_snapshot_does_not_take_its_day_from_a_good_one() -> None:
    """The newest of 12-02 is unusable: 12-02's daily slot goes to that day's good one, and the
    two days kept are still two days of good snapshots."""
    day = [
        replace(snapshot("a", epoch("2026-12-02 02:00")), state=SnapshotState.VERIFIED),
        replace(snapshot("b", epoch("2026-12-02 14:00")), state=SnapshotState.UNUSABLE),
        replace(snapshot("c", epoch("2026-12-01 02:00")), state=SnapshotState.VERIFIED),
        replace(snapshot("d", epoch("2026-11-30 02:00")), state=SnapshotState.VERIFIED),
    ]
    plan = plan_prune(day, Retention(daily=2), epoch("2026-12-03 00:00"))
    assert kept(plan) == {"b": UNUSABLE_RULE, "a": "daily 2026-12-02", "c": "daily 2026-12-01"}
    assert [s.id for s in plan.forget] == ["d"]


def test_unverified_snapshots_newer_than_the_newest_verified_wait_for_verification() -> None:
    stamps = ("2026-11-28 02:00", "2026-11-29 02:00", "2026-11-30 02:00", "2026-12-01 02:00")
    states = (
        SnapshotState.UNVERIFIED,  # older than the newest verified: never proven, forgotten
        SnapshotState.VERIFIED,
        SnapshotState.VERIFIED,
        SnapshotState.UNVERIFIED,  # its verification is to come: kept, counted by no rule
    )
    snaps = [
        replace(snapshot(f"s{n}", epoch(t)), state=s)
        for n, (t, s) in enumerate(zip(stamps, states, strict=True), 1)
    ]
    plan = plan_prune(snaps, Retention(last=1), epoch("2026-12-02 00:00"))
    assert kept(plan) == {"s4": PENDING_RULE, "s3": "last"}
    assert [s.id for s in plan.forget] == ["s2", "s1"]


def test_nothing_is_forgotten_before_a_snapshot_is_verified() -> None:
    snaps = [snapshot(f"s{n}", epoch(f"2026-11-{n:02d} 02:00")) for n in range(1, 6)]
    plan = plan_prune(snaps, Retention(last=1), epoch("2026-12-02 00:00"))
    assert plan.forget == () and set(kept(plan).values()) == {PENDING_RULE}


def test_no_rule_keeps_everything_as_restic_does() -> None:
    snaps = [
        replace(snapshot(f"s{n}", epoch(f"2026-11-{n:02d} 02:00")), state=SnapshotState.VERIFIED)
        for n in range(1, 4)
    ]
    plan = plan_prune(snaps, Retention(), epoch("2026-12-02 00:00"))
    assert kept(plan) == {"s3": "no keep rule", "s2": "no keep rule", "s1": "no keep rule"}
    assert plan.forget == ()


def test_a_rule_with_counts_left_keeps_the_oldest_as_restic_does_since_0_16() -> None:
    """restic 0.16's ApplyPolicy: `val != b.Last || nr == len(list)-1`: a daily rule with days
    left keeps the oldest snapshot even when its day is already kept."""
    snaps = [
        replace(snapshot(sid, epoch(t)), state=SnapshotState.VERIFIED)
        for sid, t in (
            ("a", "2026-12-01 10:00"),
            ("b", "2026-12-01 12:00"),
            ("c", "2026-12-02 09:00"),
        )
    ]
    plan = plan_prune(snaps, Retention(daily=7), epoch("2026-12-03 00:00"))
    assert kept(plan) == {
        "c": "daily 2026-12-02",
        "b": "daily 2026-12-01",
        "a": "daily 2026-12-01 (oldest)",
    }
    plan = plan_prune(snaps, Retention(daily=2), epoch("2026-12-03 00:00"))
    assert kept(plan) == {"c": "daily 2026-12-02", "b": "daily 2026-12-01"}  # used up: not kept


def test_each_host_and_backup_is_counted_on_its_own() -> None:
    snaps = [
        replace(
            snapshot(f"{h}{b}{n}", epoch(f"2026-11-{n:02d} 02:00"), host=h, backup=b),
            state=SnapshotState.VERIFIED,
        )
        for h in ("h1", "h2")
        for b in ("etc", "db")
        for n in (1, 2, 3)
    ]
    plan = plan_prune(snaps, Retention(last=2), epoch("2026-12-02 00:00"))
    assert set(kept(plan)) == {
        f"{h}{b}{n}" for h in ("h1", "h2") for b in ("etc", "db") for n in (2, 3)
    }
    assert len(plan.forget) == 4


def test_a_snapshot_stamped_after_now_is_kept_and_not_counted() -> None:
    """A controller whose clock ran ahead stamped one a day late: it does not take `last 1`
    from the newest real one."""
    snaps = [
        replace(snapshot("ahead", epoch("2026-12-04 02:00")), state=SnapshotState.VERIFIED),
        replace(snapshot("real", epoch("2026-12-02 02:00")), state=SnapshotState.VERIFIED),
        replace(snapshot("old", epoch("2026-12-01 02:00")), state=SnapshotState.VERIFIED),
    ]
    plan = plan_prune(snaps, Retention(last=1), epoch("2026-12-03 00:00"))
    assert kept(plan) == {"ahead": "taken after now (2026-12-04 02:00:00Z)", "real": "last"}


@pytest.mark.parametrize("seed", range(40))
def test_the_newest_verified_is_never_forgotten_and_unusable_never_pruned(seed: int) -> None:
    chance = random.Random(seed)
    start = epoch("2026-01-01 00:00")
    snaps = [
        replace(
            snapshot(f"s{n}", start + chance.uniform(0, 200 * 86400)),
            state=chance.choice(list(SnapshotState)),
        )
        for n in range(chance.randint(1, 30))
    ]
    keep = Retention(
        last=chance.choice([None, 0, 1, 3]),
        daily=chance.choice([None, 1, 7]),
        weekly=chance.choice([None, 1, 4]),
        monthly=chance.choice([None, 1, 6]),
    )
    plan = plan_prune(snaps, keep, start + 201 * 86400)
    forgotten = {s.id for s in plan.forget}
    assert forgotten | set(kept(plan)) == {s.id for s in snaps}
    assert not forgotten & set(kept(plan))
    verified = sorted(
        (s for s in snaps if s.state is SnapshotState.VERIFIED), key=lambda s: s.taken_at
    )
    if verified:
        assert verified[-1].id not in forgotten
    assert not {s.id for s in snaps if s.state is SnapshotState.UNUSABLE} & forgotten


class DirectoryStore:
    """A backup store of one file per snapshot in a directory, deleting for real (what prune
    needs of a store: its name and delete); a snapshot whose path is a directory fails to
    delete, as a store's own failure would."""

    def __init__(self, root: Path, name: str = "local") -> None:
        self.root, self.name = root, name
        root.mkdir(exist_ok=True)

    def path(self, snap: Snapshot) -> Path:
        return self.root / snap.id

    def delete(self, snap: Snapshot) -> None:
        self.path(snap).unlink(missing_ok=True)


def recorded(tmp_path: Path) -> tuple[SnapshotIndex, DirectoryStore, list[Snapshot]]:
    index = open_store(tmp_path / "state").snapshots
    store = DirectoryStore(tmp_path / "data")
    snaps = []
    for n in range(1, 5):
        snap = snapshot(f"s{n}", epoch(f"2026-11-{n:02d} 02:00"))
        index.add(snap, ())
        snaps.append(index.mark(snap.id, SnapshotState.VERIFIED, snap.taken_at + 60))
        store.path(snap).write_bytes(b"data")
    return index, store, snaps


def test_prune_deletes_the_data_then_the_index_entry(tmp_path: Path) -> None:
    index, store, _ = recorded(tmp_path)
    plan = plan_prune(index.list(), Retention(last=2), epoch("2026-12-01 00:00"))

    dry = prune(store, index, plan, dry_run=True)
    assert (dry.dry_run, dry.forgotten, dry.ok) == (True, ("s2", "s1"), True)
    assert sorted(p.name for p in store.root.iterdir()) == ["s1", "s2", "s3", "s4"]
    assert len(index.list()) == 4

    done = prune(store, index, plan)
    assert (done.forgotten, done.ok, done.error) == (("s2", "s1"), True, None)
    assert sorted(p.name for p in store.root.iterdir()) == ["s3", "s4"]
    assert [s.id for s in index.list()] == ["s4", "s3"]


def test_a_snapshot_the_store_cannot_delete_stays_in_the_index(tmp_path: Path) -> None:
    index, store, snaps = recorded(tmp_path)
    store.path(snaps[0]).unlink()
    store.path(snaps[0]).mkdir()  # unlink() of a directory fails: IsADirectoryError
    (store.path(snaps[0]) / "x").write_text("x")
    elsewhere = replace(snapshot("s0", epoch("2026-10-01 02:00")), store="offsite")
    index.add(elsewhere, ())
    index.mark("s0", SnapshotState.VERIFIED, 1.0)
    plan = plan_prune(index.list(), Retention(last=2), epoch("2026-12-01 00:00"))
    assert [s.id for s in plan.forget] == ["s2", "s1", "s0"]

    done = prune(store, index, plan)

    assert done.forgotten == ("s2",) and not done.ok
    assert done.failed["s1"].startswith("the store could not delete it: [Errno 21]")
    assert done.failed["s0"] == "it is in the backup store 'offsite', not in 'local'"
    assert [s.id for s in index.list()] == ["s4", "s3", "s1", "s0"]
    assert done.error is not None and done.error.startswith("s1: the store could not")


def test_prune_removes_forgotten_snapshots_from_a_real_local_store(tmp_path: Path) -> None:
    from jarvisctl.backup.stores.local import LocalBackupStore
    from tests.backup.helpers import backup_plan

    index = open_store(tmp_path / "state").snapshots
    store = LocalBackupStore("local", tmp_path / "backups")
    for n in range(1, 5):
        with store.writer(f"s{n}", backup_plan(name="etc"), "h1") as writer:
            writer.write(b"not really gzip: the store keeps what it is given")
            location, stored = writer.commit()
        snap = replace(snapshot(f"s{n}", epoch(f"2026-11-{n:02d} 02:00")), location=location)
        index.add(replace(snap, stored_bytes=stored), ())
        index.mark(snap.id, SnapshotState.VERIFIED if n != 4 else SnapshotState.UNUSABLE, 0.0)
    files = sorted(p.name for p in (tmp_path / "backups" / "h1" / "etc").iterdir())
    assert files == ["s1.tar.gz", "s2.tar.gz", "s3.tar.gz", "s4.tar.gz"]

    # s4 is unusable: s3 is `last 1`, s4 stays as evidence, s2 and s1 go
    plan = plan_prune(index.list(), Retention(last=1), epoch("2026-12-01 00:00"))
    outcome = prune(store, index, plan)

    assert outcome.ok and outcome.forgotten == ("s2", "s1")
    assert sorted(p.name for p in (tmp_path / "backups" / "h1" / "etc").iterdir()) == [
        "s3.tar.gz",
        "s4.tar.gz",
    ]
    assert [s.id for s in index.list()] == ["s4", "s3"]
