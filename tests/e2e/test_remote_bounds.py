"""What a run costs and leaves behind on its hosts, end to end: `jarvisctl run` against real
sshd hosts (and the local machine), for floods of output, `setsid` children and a controller
killed with SIGKILL."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

# Runs a command and reports the largest resident set of any process under it, in KiB.
_PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)
FLOOD = 200_000_000
JARVISCTL = (sys.executable, "-m", "jarvisctl")


@pytest.fixture(params=["ssh", "local"])
def target(request: pytest.FixtureRequest, tmp_path: Path, sshd_fleet: SshdFleet) -> Path:
    """A project whose inventory has one host, `target`: an sshd host, or this machine."""
    if request.param == "ssh":
        request.getfixturevalue("sshd_hosts")
        sshd_fleet.write_inventory(tmp_path / "fleet.yml")
        fleet = yaml.safe_load((tmp_path / "fleet.yml").read_text())
        host = fleet["all"]["children"]["sshd"]["hosts"][sshd_fleet.hosts[0].name]
    else:
        host = {"ansible_connection": "local"}
    inventory = {"all": {"hosts": {"target": host}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return tmp_path


def _playbook(project: Path, checks: str) -> None:
    play = f"- name: bounds\n  hosts: target\n  checks:\n{textwrap.indent(checks, '    ')}"
    (project / "play.yml").write_text(play)


def _run(project: Path, timeout: float = 120) -> tuple[int, dict[str, Any], int, float]:
    """Exit code, the run's JSON, the peak RSS (KiB) of the controller, the wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _PEAK_RSS,
            *JARVISCTL,
            "run",
            "play.yml",
            "-i",
            "inventory.yml",
            "--json",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - started
    assert "Traceback" not in done.stderr, done.stderr
    peak = int(done.stderr.strip().splitlines()[-1])
    return done.returncode, json.loads(done.stdout), peak, elapsed


def _checks(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (host,) = document["hosts"]
    return {c["name"]: c for c in host["checks"]}


def _journal(project: Path, kind: str) -> list[dict[str, Any]]:
    (journal,) = project.rglob("runs/*.jsonl")
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    return [r for r in records if r.get("event", r.get("kind")) == kind]


def _sha256_of_flood(byte: bytes, size: int, end: bytes) -> str:
    sha, block = hashlib.sha256(), byte * (1 << 20)
    for _ in range(size // len(block)):
        sha.update(block)
    sha.update(byte * (size % len(block)) + end)
    return sha.hexdigest()


def test_a_flood_of_output_keeps_the_controller_small(target: Path) -> None:
    """200 MB on stdout: the controller keeps its tail (parsed), its size and its digest."""
    _playbook(
        target,
        f"""\
        - name: flood
          use: command
          with: {{command: "head -c {FLOOD} /dev/zero | tr '\\\\0' x; echo; echo 42"}}
          timeout: 3m
        - name: tail read
          use: command
          with:
            command: "head -c 3000000 /dev/zero | tr '\\\\0' y; echo; echo total=7"
            parse: regex
            regex: "total=(\\\\d+)"
        """,
    )
    code, document, peak_kib, _ = _run(target, timeout=300)
    assert peak_kib < 150 * 1024, f"the controller grew to {peak_kib // 1024} MiB"
    checks = _checks(document)
    flood = checks["flood"]
    assert flood["status"] == "unknown" and flood["value"] is None
    assert "output is not a number" in flood["reason"]
    assert f"the output was truncated: stdout printed {FLOOD + 4} bytes" in flood["reason"]
    assert flood["stdout_tail"].endswith("xxx\n42\n")
    assert checks["tail read"]["value"] == 7  # parsed from the tail that was kept
    assert code == 1
    (record,) = [r for r in _journal(target, "check") if r["data"]["check"] == "flood"]
    data = record["data"]
    assert data["stdout_bytes"] == FLOOD + 4 and data["truncated"] is True
    assert data["stdout_sha256"] == _sha256_of_flood(b"x", FLOOD, b"\n42\n")
    assert data["stderr_bytes"] == 0


def _alive(pattern: str, *, exact: bool = False) -> list[int]:
    """This machine's processes whose command line contains `pattern` (or is it, `exact`):
    the test hosts share its kernel. Not counting this test itself."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().rstrip()
        except OSError:
            continue
        if line == pattern if exact else pattern in line:
            found.append(int(entry.name))
    return found


def _carrying(variable: str) -> list[int]:
    """This machine's processes whose environment holds `variable` (NAME=value)."""
    wanted = variable.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_setsid_children_do_not_hold_the_run_nor_outlive_it(target: Path) -> None:
    tag = f"{uuid.uuid4().int % 10**9}"
    _playbook(
        target,
        f"""\
        - name: holds stdout
          use: command
          with: {{command: "setsid sleep 160.{tag} & echo 1"}}
        - name: detached
          use: command
          with: {{command: "setsid sh -c 'sleep 161.{tag}' </dev/null >/dev/null 2>&1 & echo 2"}}
        - name: after
          use: command
          with: {{command: "echo 3"}}
        """,
    )
    code, document, _, elapsed = _run(target)
    assert code == 0, document
    assert [c["value"] for c in _checks(document).values()] == [1, 2, 3]
    # The children sleep 160 s and the check may take 30 s: waiting for either would exceed 25 s;
    # the margin keeps a loaded CI machine (10 s seen with six busy loops on 2 cores) passing.
    assert elapsed < 25, f"the run waited {elapsed:.1f}s for what its checks left running"
    assert _wait(lambda: not _alive(f".{tag}"), 10), "a setsid child outlived the run"


def test_a_subshell_that_never_execs_does_not_outlive_the_run(target: Path) -> None:
    """A background subshell of a check runs only shell builtins (here a `read` on a FIFO no
    one opens): it is a fork of the script's shell that never execs, so its /proc/PID/environ
    is the one the script's shell was started with. The sweep finds it by its marker only if
    the script's shell was started with the marker, not merely exported it: the same gap let a
    `setsid` child whose exec came late (a loaded host) outlive a run now and then. The check
    waits until the subshell has said its PID: on a loaded host the run could otherwise end, and
    its sweep end the subshell, before the subshell wrote it (CI saw that)."""
    tag = f"{uuid.uuid4().int % 10**9}"
    fifo, pidfile = target / f"fifo.{tag}", target / f"pid.{tag}"
    os.mkfifo(fifo)
    _playbook(
        target,
        f"""\
        - name: waits in a builtin
          use: command
          with:
            command: "( sh -c 'echo $PPID' >{pidfile}.w && mv {pidfile}.w {pidfile};
              read x <{fifo} ) >/dev/null 2>&1 &
              until [ -e {pidfile} ]; do sleep 0.01; done; echo 1"
        - name: after
          use: command
          with: {{command: "echo 2"}}
        """,
    )
    try:
        code, document, _, _ = _run(target)
        assert code == 0, document
        assert [c["value"] for c in _checks(document).values()] == [1, 2]
        subshell = int(pidfile.read_text())
        left = _wait(lambda: b"jarvisctl-run" not in _cmdline(subshell), 10)
        assert left, "the check's subshell outlived the run"
    finally:  # what was left reads the FIFO: a writer that opens and closes it ends the read
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _script_shell(pid: int) -> tuple[int, str]:
    """The `sh -s jarvisctl-run:...` a check's process runs under, and its start time."""
    while pid > 1:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if cmdline[:2] == [b"sh", b"-s"]:
            return pid, Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    raise AssertionError("the check's process runs under no script shell")


def _same_process(pid: int, started: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19] == started
    except OSError:
        return False


def _start_run(
    project: Path, fleet: SshdFleet, host: SshdHost, command: str, timeout: int
) -> subprocess.Popen[str]:
    """`jarvisctl run` of one check running `command` on `host`, started and not waited for;
    its stderr is piped (read it with communicate())."""
    fleet.write_inventory(project / "inventory.yml")
    check = {"name": "slow", "use": "command", "with": {"command": command}}
    play = [{"name": "slow", "hosts": host.name, "checks": [{**check, "timeout": f"{timeout}s"}]}]
    (project / "play.yml").write_text(json.dumps(play))
    return subprocess.Popen(
        [*JARVISCTL, "run", "play.yml", "-i", "inventory.yml"],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_controller_killed_with_sigkill_leaves_nothing_on_the_host(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    tag = f"{uuid.uuid4().int % 10**9}"
    check_timeout = 10
    escaping = f"setsid sleep 302.{tag} </dev/null >/dev/null 2>&1 &"
    controller = _start_run(
        tmp_path, sshd_fleet, sshd_hosts[0], f"{escaping} sleep 300.{tag}; echo 1", check_timeout
    )
    try:
        # exact: the script's own shell has both texts in its command line before either sleep runs
        assert _wait(
            lambda: (
                _alive(f"sleep 300.{tag}", exact=True) and _alive(f"sleep 302.{tag}", exact=True)
            ),
            20,
        )
        started = time.monotonic()
        (sleeper,) = _alive(f"sleep 300.{tag}", exact=True)
        shell, shell_started = _script_shell(sleeper)
        environ = Path(f"/proc/{sleeper}/environ").read_bytes().split(b"\0")
        markers = [v.decode() for v in environ if v.startswith(b"JARVIS_RUN_TOKEN=")]
        assert len(markers) == 1, "the check's process carries no run marker"
        marker = markers[0]
        time.sleep(1)
        controller.send_signal(signal.SIGKILL)
        controller.wait(timeout=5)
    finally:
        controller.kill()
    # the run's deadline: the check's timeout, the kill margin, one second; then a few seconds
    deadline = check_timeout + 2 + 1 + 4

    def nothing_left() -> bool:
        return not (_carrying(marker) or _alive(f".{tag}") or _same_process(shell, shell_started))

    assert _wait(nothing_left, deadline - (time.monotonic() - started)), (
        f"left on the host: marked {_carrying(marker)}, sleeps {_alive(f'.{tag}')}, "
        f"script shell alive: {_same_process(shell, shell_started)}"
    )


def test_an_interrupted_run_ends_what_its_checks_left_running(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    """SIGTERM: the controller ends the script's session on the host; the script then sweeps
    what its commands started outside it (setsid) before it exits."""
    tag = f"{uuid.uuid4().int % 10**9}"
    escaping = f"setsid sleep 303.{tag} </dev/null >/dev/null 2>&1 &"
    controller = _start_run(
        tmp_path, sshd_fleet, sshd_hosts[0], f"{escaping} sleep 304.{tag}; echo 1", 120
    )
    try:
        # exact: the script's own shell has both texts in its command line before either sleep runs
        assert _wait(
            lambda: (
                _alive(f"sleep 303.{tag}", exact=True) and _alive(f"sleep 304.{tag}", exact=True)
            ),
            20,
        )
        controller.send_signal(signal.SIGTERM)
        _, stderr = controller.communicate(timeout=20)
    finally:
        controller.kill()
    assert controller.returncode == 130, stderr
    assert _wait(lambda: not _alive(f".{tag}"), 5), "a check's setsid child outlived the run"
