"""bench/'s sshd hosts in PID namespaces of their own (bench/pidns.py): each host sees only its
own processes in /proc, as separate machines do (the hosts of one shared PID namespace see each
other's: the same test fails there), the host-side CPU accounting still counts a session's
CPU, and stopping the hosts leaves nothing running, whatever their pid files say."""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import bench.fleet
from bench.fleet import BenchFleet, sshd_unavailable_reason
from bench.pidns import NamespacedHost, pid_namespace_unavailable_reason
from bench.procfs import children_of
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

MARK = "BENCH_PIDNS_MARK"


def _skip_unless_possible() -> None:
    reason = sshd_unavailable_reason() or pid_namespace_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def fleets(tmp_path: Path) -> Iterator[list[BenchFleet]]:
    """Fleets the test starts; each is stopped at the end whatever happened."""
    _skip_unless_possible()
    made: list[BenchFleet] = []
    yield made
    for fleet in made:
        fleet.stop()


def start(fleets: list[BenchFleet], directory: Path, count: int, own: bool) -> BenchFleet:
    fleet = BenchFleet(directory, count, own_pid_namespace=own)
    fleets.append(fleet)
    fleet.start()
    return fleet


def ssh(fleet: BenchFleet, index: int, command: str) -> str:
    done = subprocess.run(
        [*fleet.ssh_argv(fleet.hosts[index]), command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def leave_marked_sleep(fleet: BenchFleet, index: int, mark: str) -> None:
    """An orphan left running on the host after its session ends, carrying `mark`; returns
    once it runs (the session may end before its background child has started)."""
    before = len(marked_here(mark))
    ssh(fleet, index, f"{MARK}={mark} setsid sleep 60 </dev/null >/dev/null 2>&1 &")
    wait_for(lambda: len(marked_here(mark)) > before, 10, f"the marked sleep on host {index}")


def marks_seen_from(fleet: BenchFleet, index: int) -> set[str]:
    """The marks in the environments of the processes a session on the host can see."""
    script = f"cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep '^{MARK}=' || true"
    return {line.split("=", 1)[1] for line in ssh(fleet, index, script).split()}


def marked_here(mark: str) -> list[int]:
    """Processes on this machine (every namespace) whose environment carries `mark`."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and needle in Path(entry.path, "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def commands_of(pids: set[int]) -> set[str]:
    found = set()
    for pid in pids:
        try:
            found.add(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            continue  # ended meanwhile
    return found


def running_from(directory: Path) -> list[str]:
    """Command lines on this machine that name the fleet's directory (its sshds)."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            line = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, NotADirectoryError):
            continue
        if entry.name.isdigit() and str(directory) in line:
            found.append(f"{entry.name}: {line}")
    return found


@pytest.mark.parametrize("own", [True, False], ids=["own-namespaces", "shared-namespace"])
def test_a_host_sees_only_its_own_processes(
    fleets: list[BenchFleet], tmp_path: Path, own: bool
) -> None:
    fleet = start(fleets, tmp_path / "fleet", 2, own)
    marks = [secrets.token_hex(6), secrets.token_hex(6)]
    for index, mark in enumerate(marks):
        leave_marked_sleep(fleet, index, mark)
    assert all(marked_here(mark) for mark in marks)  # both are running, seen from here
    seen = [marks_seen_from(fleet, 0), marks_seen_from(fleet, 1)]
    if own:
        assert seen == [{marks[0]}, {marks[1]}]
    else:
        # each sees both (and may see a mark of an earlier test's host still being ended)
        assert all(set(marks) <= marks_of_host for marks_of_host in seen), seen
        for mark in marks:  # orphans of this machine's init: not ended with their host
            for pid in marked_here(mark):
                os.kill(pid, signal.SIGKILL)


def test_namespaced_hosts_are_pid_1_inside_and_known_by_their_pid_here(
    fleets: list[BenchFleet], tmp_path: Path
) -> None:
    fleet = start(fleets, tmp_path / "fleet", 2, own=True)
    for index, (host, listener) in enumerate(zip(fleet.hosts, fleet.listeners, strict=True)):
        assert isinstance(host, NamespacedHost)
        assert host.pid_file.read_text().strip() == "1"
        assert listener == host.listener_pid != 1
        assert Path(f"/proc/{listener}/comm").read_text().strip() == "sshd"
        # A session's shell and its `ls` are among the few processes its host has.
        pids = ssh(fleet, index, "ls /proc | grep -x '[0-9]*'").split()
        assert "1" in pids and len(pids) < 10
    assert len(set(fleet.listeners)) == 2


def test_orphans_are_reaped_by_the_listener_and_their_cpu_counted(
    fleets: list[BenchFleet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = start(fleets, tmp_path / "fleet", 1, own=True)
    monkeypatch.setattr(bench.fleet, "BURN_SECONDS", 0.3)
    seen = fleet.check_host_cpu_accounting()
    assert 0.3 <= seen["listener_delta_seconds"] <= 0.8
    # An orphan burning CPU after its session ended is the listener's child (pid 1 of the
    # namespace): wait_idle waits for it, and its CPU is in the listener's once reaped.
    fleet.wait_idle()
    before = fleet.host_cpu()
    burn = "import time\nwhile time.process_time() < 0.3: pass"
    ssh(fleet, 0, f"setsid python3 -c {shlex.quote(burn)} </dev/null >/dev/null 2>&1 &")
    # the orphan is `setsid` until it execs python3, which the session's end may come before
    wait_for(
        lambda: "python3" in commands_of(children_of({fleet.listeners[0]})),
        10,
        "the orphan running python3 as the listener's child",
        poll=0.02,
    )
    fleet.wait_idle(timeout=20)
    assert 0.3 <= fleet.host_cpu() - before <= 0.8


def test_stopping_leaves_nothing_running_and_never_uses_the_pid_file(
    fleets: list[BenchFleet], tmp_path: Path
) -> None:
    fleet = start(fleets, tmp_path / "fleet", 2, own=True)
    mark = secrets.token_hex(6)
    for index in range(2):
        leave_marked_sleep(fleet, index, mark)
    assert len(marked_here(mark)) == 2
    # A pid file naming another process (here one of ours) must not get it signalled: the
    # host is stopped by its pid on this side, or through its `unshare`.
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        fleet.hosts[1].pid_file.write_text(f"{bystander.pid}\n")
        fleet.stop()
        assert bystander.poll() is None
    finally:
        bystander.send_signal(signal.SIGKILL)
        bystander.wait()
    deadline = time.monotonic() + 5
    while (marked_here(mark) or running_from(fleet.directory)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked_here(mark) == []
    assert running_from(fleet.directory) == []
    assert not any(host.is_running for host in fleet.hosts)


def test_a_missing_unshare_is_a_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pid_namespace_unavailable_reason() == "`unshare` (util-linux) is missing"
