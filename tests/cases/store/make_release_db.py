"""Make tests/cases/store/release-8c4458a.sql: a state.db as release 8c4458a (the release before
issue 16's store) leaves it, dumped as SQL text (sqlite3's iterdump), for
tests/integration/test_store_upgrade.py.

Run with the OLD release's code on the path, from a worktree of that commit:

    git -C /work/main worktree add /work/wt/old-release 8c4458a
    PYTHONPATH=/work/wt/old-release /work/main/.venv/bin/python \\
        tests/cases/store/make_release_db.py tests/cases/store/release-8c4458a.sql

It runs `python -m jarvisctl run play.yml` three times in a fresh project on the local machine
(PLAY below: the upgrade test runs the same play with the new code), the checks reading their
values from files:
- `held` reads 50, then 95 twice: critical seen 2 of the 4 cycles its `for: 4` asks, so it is
  still ok, pending critical;
- `partly` reads 95 from the second run on: its fix (which fixes nothing) runs in the second and
  the third run, 2 of the 3 attempts its budget allows;
- `spent` likewise, with a budget of 1: spent and escalated in the second run;
and every run is in the run index. A lease row is added as a run of another controller would
have left it (a run releases its own leases as it ends). The dump is the whole file, schema
version (PRAGMA user_version) included; the script refuses to run new code (it checks that the
module jarvisctl.state, which the new layout moved, is importable).
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

PLAY = """\
- name: watch
  hosts: all
  checks:
    - name: held
      use: command
      with: {command: "cat held.txt"}
      warn: 80
      crit: 90
      for: 4
    - name: partly
      use: command
      with: {command: "cat partly.txt"}
      crit: 90
      remediate:
        - use: run
          with: {commands: ["true"]}
          max_attempts: 3
          settle: 0s
          window: 3650d  # the attempts stay in it whenever the test runs
    - name: spent
      use: command
      with: {command: "cat spent.txt"}
      crit: 90
      remediate:
        - use: run
          with: {commands: ["true"]}
          max_attempts: 1
          settle: 0s
          window: 3650d  # the attempts stay in it whenever the test runs
"""
VALUES = ({"held": 50, "partly": 50, "spent": 50}, {"held": 95, "partly": 95, "spent": 95})
RUNS = (VALUES[0], VALUES[1], VALUES[1])
LEASE = ("db7", "20261201T000000Z-0a1b2c", 4242, "another-controller", "daemon", 1.0, 2.0)


def run(project: Path, values: dict[str, int]) -> None:
    for name, value in values.items():
        (project / f"{name}.txt").write_text(f"{value}\n")
    result = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"jarvisctl run failed ({result.returncode}): {result.stderr}")


def main(target: Path) -> None:
    if importlib.util.find_spec("jarvisctl.state") is None:
        raise SystemExit("run this with release 8c4458a's code on PYTHONPATH (see the docstring)")
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "play.yml").write_text(PLAY)
        for values in RUNS:
            run(project, values)
        database = project / ".jarvisctl" / "state.db"
        with sqlite3.connect(database) as db:
            db.execute("INSERT INTO host_lease VALUES (?, ?, ?, ?, ?, ?, ?)", LEASE)
        db = sqlite3.connect(database)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        lines = [f"PRAGMA user_version={version};", *db.iterdump()]
        db.close()
    target.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    os.environ.pop("JARVISCTL_STATE_DIR", None)
    main(Path(sys.argv[1]))
