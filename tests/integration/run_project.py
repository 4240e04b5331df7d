"""A small project run for real by `jarvisctl run` in a subprocess: two local hosts, one healthy
and one failing, with secrets from the environment, a secret file and a secret variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ENV_SECRET = "s3cr3t-Pa55'word"  # a quote inside: it is shell-quoted into the command
FILE_SECRET = "tok-8f2e9c1d"
VAR_SECRET = "k3y-abcdef0123"
SECRETS = (ENV_SECRET, FILE_SECRET, VAR_SECRET)

INVENTORY = """\
all:
  hosts:
    alpha: {ansible_connection: local, level_file: ok.txt}
    zulu: {ansible_connection: local, level_file: bad.txt}
"""

PLAYBOOK = """\
- name: health
  hosts: all
  vars:
    api_key: k3y-abcdef0123
    db_password: "{{ env('JV_DB_PASSWORD') }}"
  secret_vars: [api_key]
  checks:
    - name: uptime
      use: command
      with: {command: "echo 1"}
    - name: level
      use: command
      with:
        command: "echo {{ db_password }} >&2; cat {{ level_file }}"
      warn: 80
      crit: 90
    - name: token
      use: command
      with:
        command: "echo auth {{ secret_file('token.txt') }} {{ api_key }} >&2; echo 5"
      warn: 10
    - name: broken
      use: command
      with: {command: "echo no key {{ api_key }}; exit 3"}
"""


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / ".jarvisctl"

    def env(self) -> dict[str, str]:
        return {**os.environ, "JV_DB_PASSWORD": ENV_SECRET}

    def jarvisctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jarvisctl", *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.jarvisctl("run", "play.yml", "-i", "inventory.yml", *args)

    def journals(self) -> list[Path]:
        """Oldest first, by each run's start (two runs in one second have ids in either order)."""
        return sorted((self.state_dir / "runs").glob("*.jsonl"), key=_started)


def _started(journal: Path) -> tuple[float, str]:
    with journal.open("rb") as lines:
        first = json.loads(lines.readline() or b"{}")
    return float(first.get("at", 0.0)), journal.name


def make_project(root: Path, bad_level: int = 95) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "inventory.yml").write_text(INVENTORY)
    (root / "play.yml").write_text(PLAYBOOK)
    (root / "token.txt").write_text(FILE_SECRET + "\n")
    (root / "ok.txt").write_text("20\n")
    (root / "bad.txt").write_text(f"{bad_level}\n")
    return Project(root)
