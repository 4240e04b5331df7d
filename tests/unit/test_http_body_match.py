"""The `http` check kind's `body_match` against a hostile server: a pattern that nests an
unbounded repetition in another is refused where it is written; any other pattern is searched by
a matcher process given MATCH_SECONDS over the body's last SEARCHED_CHARS characters
(core/regex_search.py), so a body that makes it backtrack badly cannot hold a run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli
from jarvisctl.core.regex_search import MATCH_SECONDS, SEARCHED_CHARS
from jarvisctl.kinds.base import CommandOutput
from jarvisctl.kinds.network import Http, HttpParams
from tests.notify_servers import http_recorder

SLOW = r".*.*.*.*x(\d)"  # no nesting, yet O(n^5) on a line of n 'a's: hours for 5000 of them
BODIES = {"/hostile": "a" * 5000, "/health": '{"status": "up"}\n'}

PLAYBOOK = """\
- name: web
  hosts: all
  checks:
    - name: health
      use: http
      with:
        url: {url}
        body_match: {pattern}
"""


@pytest.fixture
def site() -> Iterator[str]:
    with http_recorder() as server:
        server.answers.update({path: (200, body.encode()) for path, body in BODIES.items()})
        yield server.url


def project(root: Path, url: str, pattern: str) -> None:
    (root / "jarvisctl.yml").write_text("{}\n")
    (root / "inventory.yml").write_text("all:\n  hosts:\n    h1: {connection: local}\n")
    (root / "p.yml").write_text(PLAYBOOK.format(url=url, pattern=json.dumps(pattern)))


def test_a_nested_repetition_is_refused_at_plan_where_it_is_written(tmp_path: Path) -> None:
    project(tmp_path, "http://127.0.0.1:1/health", r'"status": (\w+\s?)*')
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["plan", "p.yml", "-i", "inventory.yml"])
    assert result.exit_code == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: p.yml:8:21: http: 'body_match': '\"status\": (\\\\w+\\\\s?)*' repeats without "
        "bound a part that itself repeats without bound: matching it can take exponential "
        "time on some output (catastrophic backtracking); write it without the nesting "
        "('(a+)+' matches what 'a+' does), or make the inner repetition atomic ('(?>a+)') or "
        "possessive ('a++') (host h1)"
    ]
    assert "Traceback" not in result.stderr


def read(body: str, pattern: str) -> tuple[float | None, str]:
    params = HttpParams.model_validate({"url": "http://x/", "body_match": pattern})
    reading = Http().read(CommandOutput(f"{body}\n@@http curl 200 0.01 0\n"), params)
    return reading.value, reading.summary


def test_the_status_when_the_body_matches_else_0() -> None:
    assert read('{"db": "up"}\nready', r"^ready$") == (200.0, "HTTP 200")
    assert read('{"db": "down"}', r'"db": "up"') == (
        0.0,
        'HTTP 200, but the body does not match \'"db": "up"\'',
    )


def test_only_the_tail_of_a_long_body_is_searched() -> None:
    assert read("ready\n" + "x" * SEARCHED_CHARS, r"^ready")[0] == 0.0
    assert read("x" * SEARCHED_CHARS + "\nready", r"^ready")[0] == 200.0


def test_a_hostile_body_cannot_hang_a_run(tmp_path: Path, site: str) -> None:
    """`jarvisctl run` on the local host against a server whose body makes the pattern
    backtrack for hours: the check is UNKNOWN, saying why, within seconds; a body that
    matches is read as before."""
    project(tmp_path, f"{site}/hostile", SLOW)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "p.yml", "-i", "inventory.yml", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=MATCH_SECONDS + 60,
    )
    assert time.monotonic() - started < MATCH_SECONDS + 30
    (host,) = json.loads(done.stdout)["hosts"]
    (check,) = host["checks"]
    assert check["status"] == "unknown", check
    assert check["reason"] == (
        f"HTTP 200, but body_match {SLOW!r} could not be matched against the body within "
        f"{MATCH_SECONDS:g}s (a pattern that backtracks too much?)"
    )
    project(tmp_path, f"{site}/health", r'"status": "(up|degraded)"')
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "p.yml", "-i", "inventory.yml", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    (check,) = json.loads(done.stdout)["hosts"][0]["checks"]
    assert (check["status"], check["value"]) == ("ok", 200.0), check
