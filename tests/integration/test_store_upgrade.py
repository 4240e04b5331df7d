"""A state.db written by release 8c4458a (the release before the versioned store) is migrated in
place by the first run of this release, and nothing in it is lost: a check held back by `for:`
stays held with its cycles counted on, a remediation budget keeps its spent attempts, an
escalation stays (with its time), the old runs are still listed, a lease row is kept.

The database is tests/cases/store/release-8c4458a.sql, made by running that release
(tests/cases/store/make_release_db.py says how); the play is the same.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from jarvisctl.store.sqlite import schema

CASE = Path(__file__).resolve().parents[1] / "cases" / "store"
TABLES = ("check_state", "remediation_attempt", "escalation", "run_index", "run_host", "host_lease")


def release() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_release_db", CASE / "make_release_db.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(path: Path) -> dict[str, set[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return {t: set(db.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES}


def version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def jarvisctl(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JARVISCTL_STATE_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_a_release_state_db_is_migrated_in_place_and_keeps_everything(tmp_path: Path) -> None:
    made = release()
    database = tmp_path / ".jarvisctl" / "state.db"
    database.parent.mkdir()
    with sqlite3.connect(database) as db:
        db.executescript((CASE / "release-8c4458a.sql").read_text())
    db.close()
    assert version(database) == 2
    before = rows(database)
    (spent_since,) = [since for _, _, check, since, _ in before["escalation"] if check == "spent"]
    (tmp_path / "play.yml").write_text(made.PLAY)
    for name, value in made.VALUES[1].items():  # still failing, as in the release's last runs
        (tmp_path / f"{name}.txt").write_text(f"{value}\n")

    result = jarvisctl(tmp_path, "run", "play.yml", "--json")

    assert result.returncode == 1, result.stderr  # not ok: checks critical
    host = json.loads(result.stdout)["hosts"][0]
    checks = {c["name"]: c for c in host["checks"]}
    # held back: critical seen 2 of its `for: 4` cycles before, 3 now (a reset would say 1)
    assert (checks["held"]["status"], checks["held"]["raw_status"]) == ("ok", "critical")
    assert checks["held"]["reason"].startswith(
        "critical for 3 of 4 cycles before the status changes"
    )
    fixes = {r["check"]: r for r in host["remediations"]}
    # partly: 2 of its 3 attempts were spent before; the third runs (and does not fix it)
    assert fixes["partly"]["outcome"] == "not verified"
    # spent: escalated before, and still, since the release's time
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(spent_since))
    assert fixes["spent"]["outcome"] == "skipped"
    assert fixes["spent"]["reason"].startswith(
        f"escalated since {when} (every remediation's budget is spent"
    )

    assert version(database) == schema.latest(schema.STATE)
    after = rows(database)
    with sqlite3.connect(database) as db:  # the snapshot index (version 4) is there, empty
        assert db.execute("SELECT count(*) FROM snapshots").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM snapshot_files").fetchone() == (0,)
    for table in ("remediation_attempt", "escalation", "run_index", "run_host", "host_lease"):
        assert before[table] <= after[table], table
    held = [r for r in after["check_state"] if r[2] == "held"]
    old_held = [r for r in before["check_state"] if r[2] == "held"]
    assert [(r[4], r[5], r[9]) for r in held] == [("critical", 3, old_held[0][9])]  # since kept
    attempts = [r for r in after["remediation_attempt"] if r[2] == "partly"]
    assert len(attempts) == 3  # the budget is spent now: the check is escalated
    assert {r[2] for r in after["escalation"]} == {"spent", "partly"}

    listed = jarvisctl(tmp_path, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    old_runs = {r[0] for r in before["run_index"]}
    assert len(old_runs) == 3
    assert old_runs < {r["run_id"] for r in json.loads(listed.stdout)}
    escalated = jarvisctl(tmp_path, "remediations", "escalated")
    assert escalated.returncode == 0 and "spent: escalated since " + when in escalated.stdout
