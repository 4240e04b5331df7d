"""A jarvisctl project for the backup end-to-end tests, driven as a user drives it: the
`jarvisctl` command as a subprocess in the project directory (jarvisctl.yml, an inventory of
the sshd test hosts, one playbook), its JSON outputs read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.sshd import SshdFleet

PLAYBOOK = "backups.yml"
RUN_TIMEOUT = 300.0


@dataclass
class BackupProject:
    root: Path
    fleet: SshdFleet
    stores: dict[str, dict[str, str]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def write(self, playbook: str) -> None:
        """jarvisctl.yml (with the `backup_stores:` given), the inventory and the playbook."""
        self.root.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "state_dir": str(self.state_dir),
            "inventory": "inventory.yml",
            "playbooks": [PLAYBOOK],
        }
        if self.stores:
            config["backup_stores"] = self.stores
        (self.root / "jarvisctl.yml").write_text(yaml.safe_dump(config))
        self.fleet.write_inventory(self.root / "inventory.yml")
        (self.root / PLAYBOOK).write_text(textwrap.dedent(playbook))

    def jarvisctl(
        self, *args: str, timeout: float = RUN_TIMEOUT, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        merged = {**os.environ, **self.env, **(env or {})}
        done = subprocess.run(
            [sys.executable, "-m", "jarvisctl", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=merged,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """`jarvisctl ARGS` started, not waited for (the caller breaks something meanwhile)."""
        return subprocess.Popen(
            [sys.executable, "-m", "jarvisctl", *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )

    def run(self, *extra: str) -> tuple[int, dict[str, Any], str]:
        """`jarvisctl run backups.yml --json`: exit code, the run document, stderr."""
        done = self.jarvisctl("run", PLAYBOOK, "--json", *extra)
        return done.returncode, parse_document(done.stdout, done.stderr), done.stderr

    def snapshots(self, host: str | None = None, backup: str | None = None) -> list[dict[str, Any]]:
        """`jarvisctl backups list [HOST] [--backup NAME] --json`, newest first."""
        args = ["backups", "list", *([host] if host else [])]
        args += ["--backup", backup] if backup else []
        done = self.jarvisctl(*args, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found

    def manifest(self, snapshot: str) -> list[dict[str, Any]]:
        """`jarvisctl backups show SNAPSHOT --json`: the snapshot's manifest entries."""
        done = self.jarvisctl("backups", "show", snapshot, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        shown: dict[str, Any] = json.loads(done.stdout)
        assert shown["id"] == snapshot or shown["id"].startswith(snapshot), shown
        entries: list[dict[str, Any]] = shown["manifest"]
        assert shown["files"] == len(entries), shown
        return entries


def parse_document(stdout: str, stderr: str) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"no run document ({exc}):\n{stdout[-2000:]}\n{stderr}") from exc
    return document


def backup_results(document: dict[str, Any], host: str) -> list[dict[str, Any]]:
    """The backups a run document reports for `host`."""
    found: list[dict[str, Any]] = []
    for entry in document["hosts"]:
        if entry["host"] == host:
            found += entry.get("backups", [])
    return found
