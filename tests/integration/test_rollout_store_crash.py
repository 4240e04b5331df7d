"""The rollout store's progress survives a controller killed with SIGKILL, and two controllers
writing at once neither lose nor corrupt anything: real processes on one real state file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jarvisctl.core.events import LEASE_TAKEOVER, Collector
from jarvisctl.store.factory import open_store
from jarvisctl.store.leases import Holder
from jarvisctl.store.rollouts import (
    HostState,
    Rollout,
    RolloutHeldError,
    RolloutHost,
    StepState,
    hold_rollout,
)

RID = "20261204T050000Z-abcd"
HOSTS = ("j1", "j2", "j3")
ROOT = Path(__file__).parents[2]


def create(state: Path) -> None:
    open_store(state).rollouts.create(
        Rollout(RID, "p", "site.yml", (), None, "0" * 64, (HOSTS,), 1.0, 1.0),
        [RolloutHost(RID, h, 1) for h in HOSTS],
    )


def controller(state: Path, body: str) -> subprocess.Popen[str]:
    """A process on the state file running `body` (with `store`, `RID`, `os`, `signal`)."""
    code = textwrap.dedent(
        """
        import os, signal, sys, time
        from pathlib import Path
        from jarvisctl.store.factory import open_store
        from jarvisctl.store.rollouts import HostState, StepState
        store = open_store(Path(sys.argv[1])).rollouts
        RID = sys.argv[2]
        """
    ) + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, str(state), RID],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def integrity(state: Path) -> str:
    with sqlite3.connect(state / "state.db") as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def test_a_step_started_is_there_after_the_controller_is_killed(tmp_path: Path) -> None:
    create(tmp_path)
    child = controller(
        tmp_path,
        """
        store.set_host(RID, "j1", HostState.IN_FLIGHT, at=2.0, phase="step", step=1, started=True)
        store.step_started(RID, "j1", "step", 1, "restart", 2.5)
        os.kill(os.getpid(), signal.SIGKILL)  # nothing after the commit: no close, no exit
        """,
    )
    assert child.wait(timeout=60) == -signal.SIGKILL, child.stderr.read()  # type: ignore[union-attr]
    rollouts = open_store(tmp_path).rollouts
    (step,) = rollouts.steps(RID, "j1")
    assert (step.phase, step.index, step.name, step.state) == ("step", 1, "restart", "started")
    host = rollouts.hosts(RID)[0]
    assert (host.state, host.phase, host.step, host.attempts) == (HostState.IN_FLIGHT, "step", 1, 1)
    assert integrity(tmp_path) == "ok"


@pytest.mark.parametrize("after", [1, 17, 60])
def test_every_write_reported_before_a_kill_at_any_moment_is_kept(
    tmp_path: Path, after: int
) -> None:
    """The controller reports each write once it returned; killed after `after` reports (its
    next write in flight or not), everything it reported is in the store."""
    create(tmp_path)
    child = controller(
        tmp_path,
        """
        for i in range(10_000):
            store.step_started(RID, "j1", "step", i, f"s{i}", float(i))
            print(f"started {i}", flush=True)
            store.step_finished(RID, "j1", "step", i, StepState.DONE, "changed", i + 0.5)
            print(f"finished {i}", flush=True)
        """,
    )
    assert child.stdout is not None
    reported = [child.stdout.readline().split() for _ in range(after)]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    reported += [line.split() for line in child.stdout.read().splitlines()]
    steps = {s.index: s for s in open_store(tmp_path).rollouts.steps(RID)}
    for what, index in reported:
        step = steps[int(index)]
        if what == "finished":
            assert (step.state, step.outcome) == (StepState.DONE, "changed")
    assert sorted(steps) == list(range(len(steps)))  # no hole, nothing invented
    assert all(s.starts == 1 for s in steps.values())
    assert integrity(tmp_path) == "ok"


def test_two_controllers_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    create(tmp_path)
    body = """
        host, rounds = sys.argv[3], 150
        for i in range(rounds):
            store.set_host(RID, host, HostState.IN_FLIGHT, at=float(i), phase="step", step=i)
            store.step_started(RID, host, "step", i, f"s{i}", float(i))
            store.step_finished(RID, host, "step", i, StepState.DONE, "ok", i + 0.5)
        store.set_host(RID, host, HostState.UPDATED, at=999.0)
        print("done", flush=True)
        """
    children = [_writer(tmp_path, body, host) for host in ("j1", "j2")]
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        assert out.split() == ["done"]
    rollouts = open_store(tmp_path).rollouts
    for host in ("j1", "j2"):
        steps = rollouts.steps(RID, host)
        assert [s.index for s in steps] == list(range(150))
        assert all(s.state is StepState.DONE and s.starts == 1 for s in steps)
    states = {h.host: h.state for h in rollouts.hosts(RID)}
    assert states == {"j1": HostState.UPDATED, "j2": HostState.UPDATED, "j3": HostState.PENDING}
    assert integrity(tmp_path) == "ok"


def _writer(state: Path, body: str, host: str) -> subprocess.Popen[str]:
    """A controller writing `host`'s progress (both start at once, and race)."""
    return controller(state, body.replace("sys.argv[3]", repr(host)))


def test_a_killed_controllers_rollout_is_refused_while_it_lives_then_taken_over(
    tmp_path: Path,
) -> None:
    create(tmp_path)
    child = controller(
        tmp_path,
        """
        from jarvisctl.core.events import NullSink
        from jarvisctl.store.leases import Holder
        from jarvisctl.store.rollouts import hold_rollout
        with hold_rollout(store, RID, Holder("run-first"), NullSink(), ttl=3600.0):
            print("held", flush=True)
            time.sleep(600)
        """,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    rollouts = open_store(tmp_path).rollouts
    events = Collector()
    try:
        with (
            pytest.raises(RolloutHeldError, match=f"pid {child.pid} on"),
            hold_rollout(rollouts, RID, Holder("run-second"), events, ttl=60.0),
        ):
            pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    with hold_rollout(rollouts, RID, Holder("run-second"), events, ttl=60.0):
        assert [lease.holder.owner for lease in rollouts.leases.all()] == ["run-second"]
    (takeover,) = events.of_kind(LEASE_TAKEOVER)
    assert takeover.data["previous_owner"] == "run-first"
    assert takeover.data["previous_pid"] == child.pid
