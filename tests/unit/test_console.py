"""The run's console: a host's line says its worst status, the status line under the host lines
tells where the run stands, colour only on a terminal without NO_COLOR."""

from __future__ import annotations

import io
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from jarvisctl.app.run import RunContext, RunRequest, run_playbooks
from jarvisctl.config.project import load_project
from jarvisctl.core.events import Collector
from jarvisctl.core.results import CheckResult, HostRun, Outcome, RunReport, Status
from jarvisctl.render.live import LiveConsole, colour_wanted, redrawing
from jarvisctl.render.run_text import progress_line, render_recap


def check(name: str, status: Status) -> CheckResult:
    return CheckResult(name, "command", "true", status, 1.0, "", "")


def host(outcome: Outcome, *statuses: Status, name: str = "web1", error: str = "") -> HostRun:
    checks = tuple(check(f"c{i}", s) for i, s in enumerate(statuses))
    return HostRun(name, "health", name, outcome, checks, error=error, duration=0.5)


@pytest.mark.parametrize(
    ("statuses", "shown"),
    [
        ((Status.OK, Status.CRITICAL, Status.OK), "CRITICAL"),
        ((Status.OK, Status.WARNING), "WARNING"),
        ((Status.WARNING, Status.UNKNOWN), "UNKNOWN"),
        ((Status.UNKNOWN, Status.CRITICAL), "CRITICAL"),
        ((Status.OK, Status.OK), "OK"),
    ],
)
def test_a_hosts_line_says_its_worst_status_not_connected(
    statuses: tuple[Status, ...], shown: str
) -> None:
    line = progress_line(host(Outcome.OK, *statuses))
    assert line.split("  ")[2] == shown, line


def test_a_host_that_did_not_run_its_checks_says_how_it_ended() -> None:
    line = progress_line(host(Outcome.UNREACHABLE, error="web1: connection refused\nmore"))
    assert line == "web1  [health]  UNREACHABLE  web1: connection refused"
    assert progress_line(host(Outcome.FAILED, error="boom")).split("  ")[2] == "FAILED"


def test_a_host_whose_remediation_ran_says_its_status_and_changed() -> None:
    line = progress_line(host(Outcome.CHANGED, Status.OK, Status.WARNING))
    assert "  WARNING (changed)  2 checks: 1 ok, 1 warning" in line


def test_colour_marks_the_status_only_when_asked() -> None:
    critical = host(Outcome.OK, Status.CRITICAL)
    assert "\x1b[" not in progress_line(critical)
    coloured = progress_line(critical, colour=True)
    assert "\x1b[31m" in coloured and coloured.count("CRITICAL") == 1


class Terminal(io.StringIO):
    def __init__(self, tty: bool = True) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_no_colour_when_no_color_is_set_or_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colour_wanted(Terminal())
    assert not colour_wanted(Terminal(tty=False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(Terminal())
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: only a non-empty value counts
    assert colour_wanted(Terminal())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_status_line_tells_done_running_left_and_the_slowest(tmp_path: Path) -> None:
    screen, clock = Terminal(), Clock()
    console = LiveConsole(screen, live=True, clock=clock, width=lambda: 200)
    console.expect(3)
    assert screen.getvalue() == "\r0 done, 0 running, 3 left"
    console.started("web1", "health")
    clock.now += 2
    console.started("web2", "health")
    clock.now += 5
    console.redraw()
    assert screen.getvalue().endswith("\r0 done, 2 running, 1 left  slowest: web1 7s")
    assert console.tally().text() == "0 done, 2 running, 1 left  slowest: web1 7s"
    console.finished(host(Outcome.OK, Status.CRITICAL, name="web1"))
    shown = screen.getvalue()
    # the status line is wiped, the host's line printed in its place, the status line redrawn
    tail = shown[shown.rindex("web1  [health]") :]
    assert tail.startswith("web1  [health]  CRITICAL")
    assert tail.endswith("\n\r1 done, 1 running, 1 left  slowest: web2 5s")
    before = "0 done, 2 running, 1 left  slowest: web1 7s"
    assert shown[: shown.rindex("web1  [health]")].endswith(f"{before}\r{' ' * len(before)}\r")
    console.close()
    after = "1 done, 1 running, 1 left  slowest: web2 5s"
    assert screen.getvalue().endswith(f"{after}\r{' ' * len(after)}\r")


def test_the_status_line_fits_the_terminal_width(tmp_path: Path) -> None:
    screen = Terminal()
    console = LiveConsole(screen, live=True, clock=Clock(), width=lambda: 12)
    console.expect(3)
    assert screen.getvalue() == "\r0 done, 0 r"  # a wrapped line could not be redrawn in place


def test_not_live_prints_host_lines_only(tmp_path: Path) -> None:
    screen = Terminal(tty=False)
    console = LiveConsole(screen, live=False)
    console.expect(3)
    console.started("web1", "health")
    console.finished(host(Outcome.OK, Status.OK, name="web1"))
    with redrawing(console, seconds=0.01):
        time.sleep(0.05)
    assert screen.getvalue() == "web1  [health]  OK  1 checks: 1 ok  0.50s\n"


def test_the_redrawing_thread_ends_with_the_run(tmp_path: Path) -> None:
    screen, clock = Terminal(), Clock()
    console = LiveConsole(screen, live=True, clock=clock, width=lambda: 80)
    console.expect(3)
    console.started("web1", "health")
    with redrawing(console, seconds=0.01):
        clock.now += 3
        deadline = time.monotonic() + 10
        while "slowest: web1 3s" not in screen.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "slowest: web1 3s" in screen.getvalue()  # redrawn without any host finishing
    assert not [t for t in threading.enumerate() if t.name == "console"]
    assert screen.getvalue().endswith(
        "\r" + " " * len("0 done, 1 running, 2 left  slowest: web1 3s") + "\r"
    )


def test_a_run_tells_the_console_its_plan_then_each_host_start_before_its_end(
    tmp_path: Path,
) -> None:
    (tmp_path / "inventory.yml").write_text(
        "all:\n  hosts:\n" + "".join(f"    h{n}: {{ansible_connection: local}}\n" for n in range(3))
    )
    (tmp_path / "play.yml").write_text(
        "- name: p\n  hosts: all\n  checks:\n    - use: command\n      with: {command: 'echo 1'}\n"
    )
    calls: list[tuple[str, ...]] = []
    lock = threading.Lock()

    def record(*call: str) -> None:
        with lock:
            calls.append(call)

    context = RunContext(
        events=Collector(),
        on_plan=lambda plan: record(
            "plan", str(sum(len(p.hosts) for b in plan.playbooks for p in b.plays))
        ),
        on_start=lambda name, play: record("start", name, play),
        on_host=lambda run: record("end", run.host, run.play),
    )
    request = RunRequest(
        playbooks=(tmp_path / "play.yml",), inventory=(tmp_path / "inventory.yml",)
    )
    run_playbooks(load_project(start=tmp_path), request, context)
    assert calls[0] == ("plan", "3")
    for name in ("h0", "h1", "h2"):
        assert calls.index(("start", name, "p")) < calls.index(("end", name, "p"))
    assert len(calls) == 7


def test_the_recap_colours_the_statuses_that_are_not_ok_only_when_asked() -> None:
    now = datetime.now(timezone.utc)
    runs = (host(Outcome.OK, Status.CRITICAL), host(Outcome.OK, Status.WARNING, name="web2"))
    report = RunReport("r1", "run", now, now, runs)
    assert "\x1b" not in render_recap(report)
    coloured = render_recap(report, colour=True)
    assert "  web1  c0: \x1b[31m\x1b[1mCRITICAL\x1b[0m" in coloured
    assert "  web2  c0: \x1b[33mWARNING\x1b[0m" in coloured


def test_nothing_is_drawn_before_the_plan_is_made() -> None:
    screen = Terminal()
    console = LiveConsole(screen, live=True, clock=Clock(), width=lambda: 80)
    console.redraw()  # the redrawing thread, while the playbooks are being planned
    assert screen.getvalue() == ""
    console.expect(0)
    assert screen.getvalue() == "\r0 done, 0 running, 0 left"
