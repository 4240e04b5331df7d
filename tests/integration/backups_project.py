"""A real project for the `jarvisctl backups` tests: two hosts with `connection: local`, a
play backing up a tree of each, snapshots taken for real (take_backup: tar on the host, the
real store, the real SQLite index), and the command run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvisctl.backup.stores.base import open_backup_store
from jarvisctl.backup.take import take_backup
from jarvisctl.config.project import load_project
from jarvisctl.connection.local import LocalConnection
from jarvisctl.plan.model import HostPlan
from jarvisctl.store.factory import open_store
from jarvisctl.store.snapshots import Snapshot, SnapshotState
from tests.backup.helpers import planned_host, run_jarvisctl, runs_of
from tests.fakes import FakeClock

DAY = 86400.0
SCHEMA = json.loads(
    (Path(__file__).parents[2] / "jarvisctl/render/schemas/run.schema.json").read_text()
)
INVENTORY = """\
all:
  hosts:
    web1: {ansible_connection: local, tree: TREE/web1}
    db1: {ansible_connection: local, tree: TREE/db1}
"""
PLAYBOOK = """\
- name: keep
  hosts: all
  backups:
    - name: files
      paths: ["{{ tree }}"]
      keep: {last: 2, daily: 3}
      compress: none
"""


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / ".jarvisctl"

    def jarvisctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_jarvisctl(self.root, *args)

    def host_plan(self, host: str) -> HostPlan:
        return planned_host(load_project(self.root / "jarvisctl.yml"), host)

    def take(self, host: str, at: float | None = None) -> Snapshot:
        """A snapshot of `host`'s tree taken for real, stamped `at` (default: now)."""
        host_plan = self.host_plan(host)
        (backup,) = host_plan.backups
        store = open_backup_store(backup.store, self.state_dir)
        clock = FakeClock(at if at is not None else time.time())
        with open_store(self.state_dir) as state:
            taken = take_backup(
                LocalConnection(host_plan.settings), host, backup, store, state.snapshots, clock
            )
        assert taken.snapshot is not None, taken.error
        return taken.snapshot

    def snapshots(self, host: str | None = None) -> tuple[Snapshot, ...]:
        with open_store(self.state_dir) as state:
            return state.snapshots.list(host)

    def mark(self, snapshot: Snapshot, state: SnapshotState) -> None:
        with open_store(self.state_dir) as store:
            store.snapshots.mark(snapshot.id, state, time.time())

    def runs(self) -> list[dict[str, Any]]:
        return runs_of(self.root)


def make_project(tmp_path: Path) -> Project:
    tree = tmp_path / "trees"
    for host in ("web1", "db1"):
        (tree / host / "sub").mkdir(parents=True)
        (tree / host / "a.txt").write_text(f"{host} says hello\n")
        (tree / host / "sub" / "b.bin").write_bytes(os.urandom(200_000))
        (tree / host / "sub" / "b.bin").chmod(0o600)
    root = tmp_path / "project"
    root.mkdir()
    (root / "inventory.yml").write_text(INVENTORY.replace("TREE", str(tree)))
    (root / "site.yml").write_text(PLAYBOOK)
    (root / "jarvisctl.yml").write_text("inventory: inventory.yml\nplaybooks: [site.yml]\n")
    return Project(root)


def stored_file(project: Project, snapshot: Snapshot) -> Path:
    """The local store's data file of `snapshot` (its location, absolute or under the store)."""
    path = Path(snapshot.location)
    if not path.is_absolute():
        path = project.state_dir / "backups" / path
    assert path.is_file(), path
    return path


def taken_daily(project: Project, host: str, days: int) -> list[Snapshot]:
    """`days` snapshots of `host`, one a day at noon UTC ending yesterday, all verified."""
    noon = (time.time() // DAY) * DAY + DAY / 2
    taken = [project.take(host, noon - DAY * (days - n)) for n in range(days)]
    for snapshot in taken:
        project.mark(snapshot, SnapshotState.VERIFIED)
    return taken[::-1]  # newest first


def day_of(snapshot: Snapshot) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(snapshot.taken_at))
