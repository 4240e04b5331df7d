"""A run or plan that would work on no host is an error, never a silent success: a --limit
that selects no host (or only hosts no play targets) is a usage error (exit 2, naming the
option), a play whose `hosts:` matches no host a configuration error located at its line
(exit 3). `plan` and `run` agree, and a refused run records nothing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli

INVENTORY = """\
all:
  children:
    web:
      hosts:
        web1: {ansible_connection: local}
        web2: {ansible_connection: local}
    db:
      hosts:
        db1: {ansible_connection: local}
"""

PLAY = """\
- name: web
  hosts: {pattern}
  checks:
    - {{name: one, use: command, with: {{command: "echo 1"}}}}
"""


def invoke(tmp_path: Path, command: str, pattern: str, *args: str) -> Result:
    (tmp_path / "inv.yml").write_text(INVENTORY)
    (tmp_path / "p.yml").write_text(textwrap.dedent(PLAY.format(pattern=pattern)))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        patch.delenv("JARVISCTL_CONFIG", raising=False)
        return CliRunner().invoke(
            cli, [command, "p.yml", "-i", "inv.yml", *args], catch_exceptions=False
        )


def recorded_runs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / ".jarvisctl" / "runs"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


LIMITS = {
    "a glob that matches nothing": (
        "web",
        "zz*",
        "error: --limit 'zz*' matches no host in inv.yml (known: db1, web1, web2)",
    ),
    "a regex that matches nothing": ("web", "~^x", "error: --limit '~^x' matches no host"),
    "an exclusion that leaves nothing": ("web", "all:!all", "--limit 'all:!all' matches no host"),
    "an unknown name": ("web", "dbs", "error: --limit 'dbs': 'dbs' in host pattern 'dbs' is"),
    "hosts no play targets": (
        "web",
        "db",
        "error: --limit 'db' leaves no host to work on: no play targets the hosts it selects "
        "(the plays target: web)",
    ),
}


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize(("pattern", "limit", "expected"), LIMITS.values(), ids=LIMITS)
def test_a_limit_that_leaves_no_host_is_a_usage_error(
    tmp_path: Path, command: str, pattern: str, limit: str, expected: str
) -> None:
    result = invoke(tmp_path, command, pattern, "--limit", limit)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert "RECAP" not in result.stdout and recorded_runs(tmp_path) == []


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize("pattern", ["'web-*'", "'~^db9'", "'web:&db'", "'all:!all'"])
def test_a_play_whose_hosts_match_nothing_is_a_located_configuration_error(
    tmp_path: Path, command: str, pattern: str
) -> None:
    result = invoke(tmp_path, command, pattern)
    assert result.exit_code == 3, result.output
    expected = (
        f"error: p.yml:2:10: hosts: {pattern} matches no host in inv.yml (known: db1, web1, web2)"
    )
    assert expected in result.stderr, result.stderr
    assert recorded_runs(tmp_path) == []
