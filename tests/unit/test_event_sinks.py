"""Sinks other than the run's record are fed off the host threads: by kind, in order, from a
bounded queue; a sink that is slow or raises neither lengthens nor breaks a run, and plugins come
from the `jarvisctl.sinks` entry points."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.app.run import RunContext, RunRequest, run_playbooks
from jarvisctl.config.project import load_project
from jarvisctl.core.dispatch import GRACE_SECONDS, Dispatcher, Feed
from jarvisctl.core.events import (
    CHECK,
    RUN_FINISHED,
    Collector,
    Event,
    EventKind,
    HostFailed,
    NullSink,
)
from jarvisctl.record.audit import iter_records
from tests.events import check, raw

SLEEP = 10.0
PLAYBOOK = """\
- name: health
  hosts: all
  checks:
    - name: tmp
      use: command
      with: {command: "test -d /tmp", parse: exit_code}
    - name: load
      use: command
      with: {command: "echo 0.5"}
      warn: 1
"""


class Slow(Collector):
    """Takes SLEEP seconds over every event."""

    def emit(self, event: Event) -> None:
        time.sleep(SLEEP)
        super().emit(event)


class Raising(Collector):
    """Keeps every event, then raises (with a text that must not be shown)."""

    def emit(self, event: Event) -> None:
        super().emit(event)
        raise RuntimeError("hunter2 is the password")


class Checks(Collector):
    kinds = frozenset({EventKind.CHECK, EventKind.RUN_FINISHED})


def events(n: int) -> list[Event]:
    return [check("h", "p", f"c{i}", float(i), "", "ok") for i in range(n)]


def test_a_sink_gets_only_the_kinds_it_subscribes_to_in_order() -> None:
    kinds, every = Checks(), Collector()
    dispatcher = Dispatcher([("kinds", kinds), ("every", every)], print)
    stream = [raw("run_started"), *events(3), Event(HostFailed("x"), "h", "p"), raw("run_finished")]
    for event in stream:
        dispatcher.emit(event)
    dispatcher.close("run")
    assert [e.kind for e in kinds.events] == [CHECK, CHECK, CHECK, RUN_FINISHED]
    assert [e.data.get("check") for e in kinds.of_kind(CHECK)] == ["c0", "c1", "c2"]
    assert every.events == stream


def test_a_sink_that_wants_no_kind_costs_no_thread() -> None:
    before = threading.active_count()
    dispatcher = Dispatcher([("null", NullSink())], print)  # the CLI's: it reads no events
    assert dispatcher.feeds == () and threading.active_count() == before
    dispatcher.close("run")


def test_a_sink_that_raises_is_reported_once_by_name_and_keeps_receiving() -> None:
    said: list[str] = []
    sink = Raising()
    dispatcher = Dispatcher([("pager", sink)], said.append)
    for event in events(5):
        dispatcher.emit(event)
    dispatcher.close("run")
    assert len(sink.events) == 5
    (warning,) = said
    assert "'pager'" in warning and "RuntimeError" in warning and "check event" in warning
    assert "hunter2" not in warning


def test_a_full_queue_drops_and_counts_instead_of_blocking_the_host() -> None:
    said: list[str] = []
    release = threading.Event()

    class Stuck(Collector):
        def emit(self, event: Event) -> None:
            release.wait(10)
            super().emit(event)

    feed = Feed("stuck", Stuck(), said.append, size=2)
    started = time.monotonic()
    for event in events(50):
        feed.emit(event)
    assert time.monotonic() - started < 1.0
    assert feed.dropped >= 47  # the queue holds 2, the worker holds one at most
    assert feed.finish(time.monotonic() + 0.2) == 50  # none delivered by the deadline
    release.set()


def test_the_run_end_waits_a_short_grace_then_says_what_a_slow_sink_missed() -> None:
    said: list[str] = []
    dispatcher = Dispatcher([("slow", Slow())], said.append)
    for event in events(3):
        dispatcher.emit(event)
    started = time.monotonic()
    dispatcher.close("20260101T000000Z-abcdef")
    assert time.monotonic() - started < GRACE_SECONDS + 1.0
    (warning,) = said
    assert "'slow' missed 3 event(s) of run 20260101T000000Z-abcdef" in warning


def project_with(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    (root / "play.yml").write_text(PLAYBOOK)
    return root


def run_in_process(root: Path, sink: Collector, **context: Any) -> tuple[float, str]:
    project = load_project(start=project_with(root))
    started = time.monotonic()
    report = run_playbooks(
        project, RunRequest(playbooks=(root / "play.yml",)), RunContext(events=sink, **context)
    )
    assert [h.outcome.value for h in report.hosts] == ["ok"]
    return time.monotonic() - started, report.run_id


def test_a_slow_sink_does_not_lengthen_a_run(tmp_path: Path) -> None:
    said: list[str] = []  # where the daemon says it: its log
    baseline, _ = run_in_process(tmp_path / "baseline", Collector())
    took, run_id = run_in_process(tmp_path / "slow", Slow(), warn=said.append)
    assert took < baseline + 5.0, (took, baseline)  # a sink's own time would be 10 s per event
    (warning,) = said
    assert re.match(rf"the event sink 'Slow' missed \d+ event\(s\) of run {run_id}", warning)


def test_a_sink_that_raises_on_every_event_does_not_break_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = Raising()
    _, run_id = run_in_process(tmp_path / "raising", sink)
    assert sink.events[0].kind == "run_started"
    assert sink.events[-1].kind == "run_finished"  # it kept receiving
    err = capsys.readouterr().err
    assert err.count("warning: the event sink 'Raising' failed") == 1 and "hunter2" not in err
    journal = tmp_path / "raising" / ".jarvisctl" / "runs" / f"{run_id}.jsonl"
    records = list(iter_records(journal.read_bytes()))
    assert [r.kind for r in records] == [e.kind for e in sink.events]


PLUGIN = """\
import time

class Slow:
    def emit(self, event):
        time.sleep(10)

class Raising:
    def emit(self, event):
        raise RuntimeError("hunter2")

def slow(context):
    return Slow()

def raising(context):
    assert context.run_id and context.state_dir.name == ".jarvisctl"
    return Raising()

def broken(context):
    raise ValueError("no config")
"""


def install_plugin(where: Path, *entries: str) -> dict[str, str]:
    """A distribution on the path with these `jarvisctl.sinks` entry points; its environment."""
    info = where / "slow_sinks-1.0.dist-info"
    info.mkdir(parents=True)
    (where / "slow_sinks.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slow-sinks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[jarvisctl.sinks]\n" + "".join(entries))
    path = os.pathsep.join(p for p in (str(where), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def jarvisctl_run(
    root: Path, env: dict[str, str], *args: str
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", *args],
        cwd=project_with(root),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return time.monotonic() - started, done


def same_output(text: str) -> str:
    """Run output without what differs between two runs: the run id and the seconds."""
    text = re.sub(r"\d{8}T\d{6}Z-[0-9a-f]{6}", "RUN", text)
    return re.sub(r"\d+\.\d+s\b", "Ns", text)


def test_plugin_sinks_slow_raising_or_broken_change_nothing_in_a_run(tmp_path: Path) -> None:
    baseline_took, baseline = jarvisctl_run(tmp_path / "baseline", dict(os.environ))
    env = install_plugin(
        tmp_path / "site",
        "slow = slow_sinks:slow\n",
        "raising = slow_sinks:raising\n",
        "broken = slow_sinks:broken\n",
        "missing = no_such_module:sink\n",
    )
    took, done = jarvisctl_run(tmp_path / "plugged", env)
    assert took < baseline_took + 5.0, (took, baseline_took)
    assert done.returncode == baseline.returncode == 0, done.stderr
    assert same_output(done.stdout) == same_output(baseline.stdout)
    err = done.stderr
    assert "event sink plugin 'broken' (slow_sinks:broken) could not be loaded" in err
    assert "ValueError: no config" in err
    assert "event sink plugin 'missing' (no_such_module:sink) could not be loaded" in err
    assert err.count("the event sink 'raising' failed") == 1 and "hunter2" not in err
    assert re.search(r"the event sink 'slow' missed \d+ event\(s\) of run", err)

    _, as_json = jarvisctl_run(tmp_path / "json", env, "--json")
    assert json.loads(as_json.stdout)["hosts"]  # stdout stays the JSON document alone
