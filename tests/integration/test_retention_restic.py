"""Retention against the real restic: a restic repository gets one snapshot per stamp
(`restic backup --time`), and `restic forget --dry-run --json` with the same `--keep-*` keeps
the same snapshots as plan_prune, on the issue's 20 snapshots over 60 days, across a year's end
(ISO week 2026-W53 runs into 2027, months and weeks end on different days), and where a rule has
counts left at the oldest snapshot.

restic before 0.16 (Debian 12 has 0.14) does not keep the oldest snapshot for a rule with counts
left; plan_prune does, as restic's current source and documentation say. Against an older
restic, the snapshots kept only by that rule are taken out of the comparison (and the test
checks that there are such snapshots in the case made for it, so that nothing is compared away
elsewhere)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from jarvisctl.backup.retention import plan_prune
from jarvisctl.plan.model import Retention
from jarvisctl.store.snapshots import SnapshotState
from tests.restic_repo import quick_repository
from tests.unit.test_retention import EXPECTED, KEEP, SCHEDULE, epoch, snapshot

RESTIC = shutil.which("restic")
pytestmark = pytest.mark.skipif(RESTIC is None, reason="restic is not installed")

YEAR_END = (
    "2026-11-15 12:00",
    "2026-11-30 23:59",  # the last minute of November
    "2026-12-01 00:01",  # the first of December
    "2026-12-20 12:00",  # Sun, W51
    "2026-12-27 23:30",  # Sun, W52
    "2026-12-28 00:30",  # Mon, W53
    "2026-12-31 12:00",  # Thu, W53, December
    "2027-01-01 00:30",  # Fri, 2026-W53 still, January
    "2027-01-03 23:00",  # Sun, 2026-W53
    "2027-01-04 01:00",  # Mon, 2027-W01
    "2027-01-05 01:00",
    "2027-01-05 13:00",
)
OLDEST = (  # two days, several snapshots each: a daily 7 rule has days left at the oldest
    "2026-12-01 08:00",
    "2026-12-01 09:00",
    "2026-12-01 10:00",
    "2026-12-02 08:00",
    "2026-12-02 09:00",
)
SCHEDULES = {"must": SCHEDULE, "yearend": YEAR_END, "oldest": OLDEST}  # one restic host each
CASES = (
    ("must", KEEP),
    ("yearend", Retention(last=1, weekly=3, monthly=2)),
    ("yearend", Retention(daily=4, monthly=3)),
    ("oldest", Retention(daily=7)),
)


def restic(env: dict[str, str], *args: str) -> str:
    assert RESTIC is not None
    done = subprocess.run(
        [RESTIC, "--no-cache", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def restic_version(env: dict[str, str]) -> tuple[int, int]:
    found = re.search(r"restic (\d+)\.(\d+)", restic(env, "version"))
    assert found is not None
    return int(found[1]), int(found[2])


def keep_flags(keep: Retention) -> list[str]:
    flags = []
    for rule in ("last", "daily", "weekly", "monthly"):
        if getattr(keep, rule):
            flags += [f"--keep-{rule}", str(getattr(keep, rule))]
    return flags


def restic_keeps(env: dict[str, str], host: str, keep: Retention) -> set[str]:
    groups = json.loads(
        restic(env, "forget", "--dry-run", "--json", "--host", host, *keep_flags(keep))
    )
    assert len(groups) == 1
    return {tag for kept in groups[0]["keep"] for tag in kept["tags"]}


def ours(stamps: tuple[str, ...], keep: Retention) -> dict[str, str]:
    snaps = [
        replace(snapshot(f"s{n}", epoch(t)), state=SnapshotState.VERIFIED)
        for n, t in enumerate(stamps, 1)
    ]
    plan = plan_prune(snaps, keep, epoch(stamps[-1]) + 3600)
    assert len(plan.keep) + len(plan.forget) == len(stamps)
    return {k.snapshot.id: k.rule for k in plan.keep}


def test_plan_prune_keeps_what_restic_forget_keeps(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "TZ": "UTC",  # `--time` is read in local time: the stamps are UTC
        "RESTIC_PASSWORD": "retention-test",
        "RESTIC_REPOSITORY": str(tmp_path / "repo"),
    }
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "file").write_text("content\n")
    quick_repository(tmp_path / "repo", env["RESTIC_PASSWORD"])  # tests/restic_repo.py
    backups = [
        ("--host", host, "--tag", f"s{n}", "--time", f"{stamp}:00")
        for host, stamps in SCHEDULES.items()
        for n, stamp in enumerate(stamps, 1)
    ]
    with ThreadPoolExecutor(4) as pool:  # backups take restic's shared lock: they run at once
        list(pool.map(lambda a: restic(env, "backup", "-q", *a, str(tmp_path / "data")), backups))
    old_restic = restic_version(env) < (0, 16)

    for host, keep in CASES:
        expected = ours(SCHEDULES[host], keep)
        if host == "must":
            assert expected == EXPECTED  # the hand count, and
        only_oldest = {s for s, rule in expected.items() if rule.endswith("(oldest)")}
        if host == "oldest":
            assert only_oldest == {"s1"}  # the case that tells the restic versions apart
        else:
            assert not only_oldest
        compared = set(expected) - only_oldest if old_restic else set(expected)
        assert restic_keeps(env, host, keep) == compared, (host, keep)
