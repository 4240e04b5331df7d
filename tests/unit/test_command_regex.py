"""The `command` check kind's `regex` (parse: regex) against hostile output: a pattern that
nests an unbounded repetition in another is refused where it is written; any other pattern is
searched by a child process given MATCH_SECONDS over the output's last SEARCHED_CHARS
characters (core/regex_search.py), so a pattern that backtracks badly cannot hold a run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli
from jarvisctl.core.regex_search import MATCH_SECONDS, SEARCHED_CHARS
from jarvisctl.kinds.base import CommandOutput, ParseError
from jarvisctl.kinds.command import Command, CommandParams

SLOW = r".*.*.*.*x(\d)"  # no nesting, yet O(n^5) on a line of n 'a's: hours for 5000 of them

PLAYBOOK = """\
- name: counters
  hosts: all
  checks:
    - name: restarts
      use: command
      with:
        command: {command}
        parse: regex
        regex: {regex}
      warn: 1
"""


def project(root: Path, regex: str, command: str = "echo restarts=0") -> None:
    (root / "jarvisctl.yml").write_text("{}\n")
    (root / "inventory.yml").write_text("all:\n  hosts:\n    h1: {connection: local}\n")
    playbook = PLAYBOOK.format(command=json.dumps(command), regex=json.dumps(regex))
    (root / "p.yml").write_text(playbook)


def jarvisctl(root: Path, *args: str) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("regex", "shown"),
    [
        ("^restarts=(a+)+$", "'^restarts=(a+)+$'"),
        (r"(?:x|(\w*\s?)*)=(\d+)", r"'(?:x|(\\w*\\s?)*)=(\\d+)'"),
    ],
)
def test_a_nested_repetition_is_refused_at_plan_where_it_is_written(
    tmp_path: Path, regex: str, shown: str
) -> None:
    project(tmp_path, regex)
    code, _, stderr = jarvisctl(tmp_path, "plan", "p.yml", "-i", "inventory.yml")
    assert code == 3, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: p.yml:9:16: command: 'regex': {shown} repeats without bound a part that itself "
        "repeats without bound: matching it can take exponential time on some output "
        "(catastrophic backtracking); write it without the nesting ('(a+)+' matches what "
        "'a+' does), or make the inner repetition atomic ('(?>a+)') or possessive ('a++') (host h1)"
    ]
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "regex", [r"NRestarts=(\d+)", r"(ab)+=(\d)", r"(a{3})+\d", r"\d+$", r"version=((\d+\.)+\d+)"]
)
def test_a_pattern_without_nesting_is_taken(regex: str) -> None:
    params = CommandParams.model_validate({"command": "x", "parse": "regex", "regex": regex})
    assert params.regex == regex


def parse(regex: str, stdout: str) -> float:
    params = CommandParams.model_validate({"command": "x", "parse": "regex", "regex": regex})
    return Command().parse(CommandOutput(stdout), params)


def test_the_value_is_the_first_group_or_the_whole_match() -> None:
    assert parse(r"NRestarts=(\d+)", "Id=app\nNRestarts=4\nNRestarts=9\n") == 4
    assert parse(r"^\d+(?=%)", "used\n93%\n") == 93
    with pytest.raises(ParseError, match=r"its first group took no part"):
        parse(r"(x)?\d+", "5\n")


def test_only_the_tail_of_a_long_output_is_searched() -> None:
    long = "total=1\n" + "x" * SEARCHED_CHARS + "\ntotal=2\n"
    assert parse(r"total=(\d+)", long) == 2  # the first match within the tail
    with pytest.raises(ParseError, match="did not match the output"):
        parse(r"total=(\d+)", "total=1\n" + "x" * SEARCHED_CHARS + "\n")


def test_a_slow_pattern_on_a_big_output_cannot_hang_a_run(tmp_path: Path) -> None:
    """`jarvisctl run` on the local host: the check is UNKNOWN, saying why, and the run ends
    in seconds. (A process of its own, killed by the timeout: a search in the run's thread
    would hold it for hours, beyond any signal's reach.)"""
    emit = f"{sys.executable} -c \"print('a' * 5000)\""
    project(tmp_path, SLOW, emit)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "p.yml", "-i", "inventory.yml", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=MATCH_SECONDS + 60,
    )
    assert time.monotonic() - started < MATCH_SECONDS + 30
    assert done.returncode == 1, done.stderr
    (host,) = json.loads(done.stdout)["hosts"]
    (check,) = host["checks"]
    assert check["status"] == "unknown"
    assert check["reason"] == (
        f"pattern {SLOW!r} could not be matched against the output within "
        f"{MATCH_SECONDS:g}s (a pattern that backtracks too much?)"
    )
