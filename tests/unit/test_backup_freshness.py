"""The freshness check a backup's `max_age` derives, evaluated on the controller from the real
SQLite snapshot index: the age of the newest snapshot that is not unusable, CRITICAL when there
is none or when the newest is unusable, its thresholds otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvisctl.core.results import Status
from jarvisctl.engine.freshness import SOURCE, backup_freshness
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import (
    EntryType,
    ManifestEntry,
    Snapshot,
    SnapshotIndex,
    SnapshotState,
)
from tests.backup.helpers import DAY, freshness_check

NOW = 1_800_000_000.0


def snapshot(n: int, taken_at: float, state: SnapshotState, host: str = "h1") -> Snapshot:
    return Snapshot(
        id=f"2026120{n}T000000Z-{host}-etc-000{n}",
        host=host,
        backup="etc",
        play="p",
        store="local",
        location=f"/x/{n}",
        taken_at=taken_at,
        seconds=1.0,
        source="paths",
        compress="gzip",
        files=1,
        bytes=3,
        stored_bytes=3,
        state=state,
        problem="/etc/a: sha256 differs" if state is SnapshotState.UNUSABLE else None,
    )


@pytest.fixture
def index(tmp_path: Path) -> SnapshotIndex:
    store = open_store(tmp_path / "state")
    return store.snapshots


def add(index: SnapshotIndex, *snapshots: Snapshot) -> None:
    entry = ManifestEntry("/etc/a", EntryType.FILE, 0o644, "root:root", 0, 0, 3, 0.0, "ab")
    for s in snapshots:
        index.add(s, [entry])


def test_no_snapshot_is_critical(index: SnapshotIndex) -> None:
    add(index, snapshot(1, NOW - 60, SnapshotState.VERIFIED, host="other"))
    result = backup_freshness(freshness_check("etc"), "h1", index, NOW)
    assert (result.status, result.value, result.source) == (Status.CRITICAL, None, SOURCE)
    assert result.reason == "no snapshot of backup 'etc' of h1 (it was never taken)"


def test_the_age_of_the_newest_usable_snapshot_against_the_thresholds(
    index: SnapshotIndex,
) -> None:
    add(index, snapshot(1, NOW - 3 * DAY, SnapshotState.VERIFIED))
    add(index, snapshot(2, NOW - 7200, SnapshotState.UNVERIFIED))  # checksummed as received
    fresh = backup_freshness(freshness_check("etc", warn=3600), "h1", index, NOW)
    assert (fresh.status, fresh.value) == (Status.WARNING, 7200.0)
    assert fresh.reason.endswith("is 2h old")
    ok = backup_freshness(freshness_check("etc"), "h1", index, NOW)
    assert (ok.status, ok.value) == (Status.OK, 7200.0)
    assert ok.reason == "newest snapshot 20261202T000000Z-h1-etc-0002 (unverified) is 2h old"
    stale = backup_freshness(freshness_check("etc"), "h1", index, NOW + DAY)
    assert (stale.status, stale.value) == (Status.CRITICAL, DAY + 7200)


def test_an_unusable_newest_snapshot_is_critical_even_with_a_fresh_older_one(
    index: SnapshotIndex,
) -> None:
    add(index, snapshot(1, NOW - 600, SnapshotState.VERIFIED))
    add(index, snapshot(2, NOW - 60, SnapshotState.UNUSABLE))
    result = backup_freshness(freshness_check("etc"), "h1", index, NOW)
    assert (result.status, result.value) == (Status.CRITICAL, 600.0)
    assert result.reason == (
        "the newest snapshot of backup 'etc', 20261202T000000Z-h1-etc-0002, is unusable: "
        "/etc/a: sha256 differs (the newest usable one is 10m old)"
    )


def test_without_an_index_it_is_unknown() -> None:
    result = backup_freshness(freshness_check("etc"), "h1", None, NOW)
    assert result.status is Status.UNKNOWN and "no snapshot index" in result.reason
