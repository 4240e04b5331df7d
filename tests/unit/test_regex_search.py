"""core/regex_search.py's matchers: long-lived child processes that search an operator's regex
in a host's output, each search bounded in time, none left behind by the controller."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jarvisctl.core.regex_search import (
    KEPT_MATCHERS,
    OWN_MARGIN,
    SEARCHED_CHARS,
    Match,
    match_bounded,
    search_bounded,
)
from tests.matcher_processes import gone, matcher_pids

SLOW = r".*.*.*.*x(\d)"  # no nesting, yet O(n^5) on a line of n 'a's
HOSTILE = "a" * 5000
ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(condition())  # type: ignore[operator]


def test_the_match_and_its_groups_come_back_whatever_the_text() -> None:
    text = "é ünïcode \udcff surrogate\nNRestarts=12 -\n"
    assert match_bounded(r"^NRestarts=(\d+) (x)?", text) == Match("NRestarts=12 ", ("12", None))
    assert match_bounded(r"^\udcff", text) is None  # MULTILINE: ^ at a line's start only
    assert search_bounded(r"surrogate$", text) is True
    assert match_bounded(r"(?P<n>\d+)", "a" * (SEARCHED_CHARS - 1) + "\n7") == Match("7", ("7",))


def test_one_matcher_serves_search_after_search_with_nothing_on_its_command_line() -> None:
    match_bounded("warm", "up")
    before = matcher_pids()
    assert 1 <= len(before) <= KEPT_MATCHERS
    for n in range(50):
        secret = f"token-{n}-7f3a"
        assert match_bounded(rf"token-{n}-(\w+)", f"x {secret}\n") == Match(secret, ("7f3a",))
    assert matcher_pids() == before  # none started, none ended
    for pid in before:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert argv[1:4] == [b"-I", b"-S", b"-c"]  # isolated, without site
        assert b"token" not in b" ".join(argv)


def cpu_seconds(pids: set[int]) -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    for pid in pids:
        with_ticks = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        used += (int(with_ticks[11]) + int(with_ticks[12])) / os.sysconf("SC_CLK_TCK")
    return used


def test_a_search_costs_the_controller_a_fraction_of_a_millisecond() -> None:
    """A child per search cost 10-60 ms of CPU (a Python's start); a matcher's search of 1 KiB
    about 0.05 ms. The bound leaves room for a loaded machine."""
    text = "".join(f"Property{n}=value {n}\n" for n in range(60))[:1000] + "\nNRestarts=4\n"
    match_bounded("warm", "up")
    pids = matcher_pids()
    started = cpu_seconds(pids)
    for _ in range(200):
        assert search_bounded(r"NRestarts=(\d+)", text) is True
    assert matcher_pids() == pids
    assert (cpu_seconds(pids) - started) / 200 < 0.002


def test_a_search_that_overruns_is_told_and_its_matcher_killed_and_replaced() -> None:
    match_bounded("warm", "up")
    before = matcher_pids()
    started = time.monotonic()
    assert match_bounded(SLOW, HOSTILE, seconds=0.5) == (
        "within 0.5s (a pattern that backtracks too much?)"
    )
    assert 0.5 <= time.monotonic() - started < 2.0
    after = matcher_pids()
    assert len(before - after) == 1  # the one that searched is gone, not left backtracking
    assert all(gone(pid) for pid in before - after)
    assert match_bounded(r"(\d)", "x1") == Match("1", ("1",))


def test_a_slow_search_holds_only_its_own_matcher() -> None:
    """Hosts search from their own threads: while one search backtracks for seconds, the
    others are answered meanwhile (not after it), and each gets its own answer."""
    slow: list[object] = []
    held = threading.Thread(target=lambda: slow.append(match_bounded(SLOW, HOSTILE, seconds=5)))
    held.start()
    time.sleep(0.2)
    answers: dict[int, list[object]] = {n: [] for n in range(6)}

    def host(n: int) -> None:
        for k in range(20):
            answers[n].append(match_bounded(r"host=(\d+) k=(\d+)", f"host={n} k={k}\n"))

    hosts = [threading.Thread(target=host, args=(n,)) for n in range(6)]
    for thread in hosts:
        thread.start()
    for thread in hosts:
        thread.join()
    assert held.is_alive()  # the slow one was still searching all along
    for n, found in answers.items():
        assert found == [Match(f"host={n} k={k}", (str(n), str(k))) for k in range(20)]
    held.join()
    assert slow == ["within 5s (a pattern that backtracks too much?)"]


def test_a_pattern_that_does_not_compile_is_told_and_its_matcher_kept() -> None:
    match_bounded("warm", "up")
    before = matcher_pids()
    assert match_bounded("(", "x") == (
        "(its matching process failed: re.error: missing ), unterminated subpattern at position 0)"
    )
    assert matcher_pids() == before


def test_a_matcher_killed_while_idle_is_replaced_for_the_next_search() -> None:
    match_bounded("warm", "up")
    for pid in matcher_pids():
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not matcher_pids(), 5)
    assert match_bounded(r"(\d)", "x1") == Match("1", ("1",))
    assert matcher_pids()


CONTROLLER = """\
import sys, time
from jarvisctl.core.regex_search import match_bounded
from tests.matcher_processes import matcher_pids
assert match_bounded(r"(\\d+)", "n=1") is not None
print(*matcher_pids(), flush=True)
if sys.argv[1] == "exit":
    sys.exit(0)
if sys.argv[1] == "busy":
    print(match_bounded(r".*.*.*.*x(\\d)", "a" * 5000, seconds=float(sys.argv[2])), flush=True)
time.sleep(60)
"""


def controller(*args: str) -> tuple[subprocess.Popen[str], set[int]]:
    process = subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    pids = {int(pid) for pid in process.stdout.readline().split()}
    assert len(pids) == 1, pids
    return process, pids


def test_the_matchers_end_with_the_controller() -> None:
    process, pids = controller("exit")
    assert process.wait(timeout=30) == 0
    assert all(gone(pid) for pid in pids)  # killed and reaped at its exit, not after


def test_an_idle_matcher_ends_when_its_controller_is_killed() -> None:
    process, pids = controller("idle")
    assert not any(gone(pid) for pid in pids)
    process.kill()
    process.wait(timeout=10)
    assert wait_until(lambda: all(gone(pid) for pid in pids), 5)  # its stdin closed


def test_a_busy_matcher_ends_by_its_own_alarm_when_its_controller_is_killed() -> None:
    """Killed mid-search, the controller can kill nothing: the matcher's own alarm ends it
    OWN_MARGIN after the search's deadline, even inside re's backtracking."""
    seconds = 1.0
    process, pids = controller("busy", str(seconds))
    time.sleep(0.3)  # it is searching
    process.kill()
    process.wait(timeout=10)
    assert not any(gone(pid) for pid in pids)  # busy: it does not read its stdin
    assert wait_until(lambda: all(gone(pid) for pid in pids), seconds + OWN_MARGIN + 3)


FORKS = """\
import os, sys
from jarvisctl.core.regex_search import match_bounded
from tests.matcher_processes import matcher_pids
assert match_bounded(r"(\\d+)", "n=1") is not None
mine = matcher_pids()
child = os.fork()
if child == 0:  # a forked child searches with matchers of its own, and exits as usual
    assert match_bounded(r"(\\d+)", "n=2").groups == ("2",)
    assert matcher_pids() and not matcher_pids() & mine
    sys.exit(0)
_, status = os.waitpid(child, 0)
assert os.waitstatus_to_exitcode(status) == 0
assert matcher_pids() == mine  # its exit ended none of its parent's
assert match_bounded(r"(\\d+)", "n=3").groups == ("3",)
print("ok")
"""


def test_a_forked_child_neither_shares_nor_ends_its_parents_matchers() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKS],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr


PROBE = """
import atexit, json, sys
from jarvisctl.cli.main import main
from jarvisctl.core import regex_search
atexit.register(lambda: print(json.dumps(regex_search._POOL is not None), file=sys.stderr))
sys.argv = ["jarvisctl", *sys.argv[1:]]
main()
"""
PLAYBOOK = """\
- name: local health
  hosts: all
  checks:
    - name: tmp
      use: command
      with: {command: "echo restarts=3", parse: CHECK}
"""


@pytest.mark.parametrize(
    ("parse", "started"),
    [("exit_code", False), ("regex, regex: 'restarts=(\\d+)'", True)],
)
def test_a_run_starts_a_matcher_only_when_it_searches(
    tmp_path: Path, parse: str, started: bool
) -> None:
    (tmp_path / "site.yml").write_text(PLAYBOOK.replace("CHECK", parse))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "site.yml", "--json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) is started
    (check,) = json.loads(done.stdout)["hosts"][0]["checks"]
    assert check["value"] == (3.0 if started else 0.0)
