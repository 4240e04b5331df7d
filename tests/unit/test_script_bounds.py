"""The check script's bounds: a streaming split in bounded memory, and nothing left running.

Run by real shells on this machine: /bin/sh (dash), and BusyBox's ash with BusyBox's own
`grep`, `sleep` and `setsid` where BusyBox is installed (an edge board's userland).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import subprocess
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvisctl.connection.capture import StreamTail
from jarvisctl.engine.script import (
    RUN_TOKEN,
    Script,
    ScriptOutput,
    compose_script,
    split_outputs,
)

COMMANDS = [("printf abc", 5), ("echo err >&2; exit 3", 5), ("printf 'a\\n\\n'", 5), ("true", 5)]


def run_whole(commands: list[tuple[str, float]]) -> tuple[ScriptOutput, bytes, bytes]:
    script = compose_script(commands)
    done = subprocess.run(["sh", "-s"], input=script.text.encode(), capture_output=True)
    return ScriptOutput(script), done.stdout, done.stderr


def test_any_chunking_splits_as_the_whole_does() -> None:
    """Delimiters cut anywhere, down to one byte a chunk, are found all the same."""
    script = compose_script(COMMANDS)
    done = subprocess.run(["sh", "-s"], input=script.text.encode(), capture_output=True)
    whole = split_outputs(script, done.stdout.decode(), done.stderr.decode())
    assert [(o.stdout, o.stderr, o.exit_code) for o in whole if o] == [
        ("abc", "", 0),
        ("", "err\n", 3),
        ("a\n\n", "", 0),
        ("", "", 0),
    ]
    rng = random.Random(14)
    for sizes in ([1], [2, 3, 5], [rng.randint(1, 40) for _ in range(50)]):
        reader = ScriptOutput(script)
        for stream, data in ((reader.stdout, done.stdout), (reader.stderr, done.stderr)):
            at = 0
            for size in sizes * len(data):
                if at >= len(data):
                    break
                stream(data[at : at + size])
                at += size
        assert [c.output if c else None for c in reader.captures()] == whole
        assert reader.ended


def test_the_end_is_known_only_when_the_last_mark_arrived_on_both_streams() -> None:
    reader, out, err = run_whole([("echo 1", 5), ("echo 2", 5)])
    reader.stdout(out[:-3])  # the last end mark lacks its status and newline
    reader.stderr(err)
    assert not reader.ended
    assert reader.captures()[1] is None
    reader.stdout(out[-3:])
    assert reader.ended
    assert [c.output.stdout if c else None for c in reader.captures()] == ["1\n", "2\n"]


def test_output_looking_like_a_delimiter_is_output() -> None:
    """Another token, or marks without one, are a command's output; the commands never see
    the script's token (their environment carries a different value)."""
    script = compose_script([("echo '@@Jfake:E:0:0'; printf '\\n@@J:B:1\\n'; env", 5)])
    done = subprocess.run(["sh", "-s"], input=script.text, capture_output=True, text=True)
    (output,) = split_outputs(script, done.stdout, done.stderr)
    assert output is not None
    assert output.stdout.startswith("@@Jfake:E:0:0\n\n@@J:B:1\n")
    assert f"{RUN_TOKEN}={script.marker}" in output.stdout
    assert script.token not in output.stdout and script.marker != script.token


def test_a_huge_section_is_kept_as_a_bounded_tail_with_its_digest_and_size() -> None:
    script = compose_script([("yes", 5), ("echo after", 5)])
    reader = ScriptOutput(script, limit=4096)
    mark = f"@@J{script.token}"
    chunk = b"y\n" * 32768  # 64 KiB
    tracemalloc.start()
    try:
        reader.stdout(f"\n{mark}:B:0\n".encode())
        for _ in range(800):  # 50 MiB through the split
            reader.stdout(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    reader.stdout(f"\n{mark}:E:0:141\n{mark}:B:1\nafter\n\n{mark}:E:1:0\n".encode())
    reader.stderr(f"\n{mark}:B:0\n\n{mark}:E:0\n{mark}:B:1\n\n{mark}:E:1\n".encode())
    assert peak < 1024 * 1024, f"the split held {peak} bytes"
    big, after = reader.captures()
    assert big is not None and after is not None
    assert big.output.stdout == "y\n" * 2048 and big.output.exit_code == 141
    assert big.stdout.size == 800 * len(chunk) and big.truncated
    assert big.stdout.sha256 == hashlib.sha256(chunk * 800).hexdigest()
    assert after.output.stdout == "after\n" and not after.truncated


def test_a_stream_tail_keeps_exactly_the_last_bytes() -> None:
    tail = StreamTail(10)
    data = bytes(range(256)) * 3
    for at in range(0, len(data), 7):
        tail.feed(data[at : at + 7])
    assert tail.text().encode("latin-1", "replace") != b""  # decodes
    digest = tail.digest()
    assert (digest.size, digest.kept, digest.truncated) == (len(data), 10, True)
    assert bytes(tail._tail[-10:]) == data[-10:]
    assert digest.sha256 == hashlib.sha256(data).hexdigest()


# --- nothing the script starts outlives it ---------------------------------------------------


@pytest.fixture(params=["sh", "busybox"])
def shell(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment a script runs in: this machine's, or a PATH of BusyBox applets only."""
    if request.param == "sh":
        yield dict(os.environ)
        return
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split()
    for applet in applets:
        (tmp_path / applet).symlink_to(busybox)
    yield {"PATH": str(tmp_path), "HOME": str(tmp_path)}


def _started(environment: dict[str, str], script: Script) -> dict[str, str]:
    """The script shell's environment as both connections start it: with the script's marker
    (connection/shell.py, marker_assignment). A forked child shows the environment its parent
    was exec'd with until its own exec: a shell that only exported the marker would hide it
    from the sweep there, which no connection does (and which failed these tests now and then:
    the forker, caught between its fork and its exec, was left to start all its children)."""
    return {**environment, RUN_TOKEN: script.marker}


def _alive(pattern: str) -> list[str]:
    """Command lines of this machine's processes that contain `pattern` (not this test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if pattern in line:
            found.append(f"{entry.name}: {line}")
    return found


def _wait_gone(pattern: str, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while _alive(pattern) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pattern)


def test_background_and_setsid_children_end_with_the_script(shell: dict[str, str]) -> None:
    tag = f"{random.randint(1000, 9999)}{uuid.uuid4().int % 1000}"
    script = compose_script(
        [
            (f"setsid sleep 160.{tag} &", 5),  # keeps the script's stdout open
            (f"setsid sh -c 'sleep 161.{tag}' </dev/null >/dev/null 2>&1 &", 5),
            (f"sleep 162.{tag} >/dev/null 2>&1 &", 5),
            ("echo done", 5),
        ]
    )
    started = time.monotonic()
    done = subprocess.run(
        ["sh", "-s"],
        input=script.text,
        capture_output=True,
        text=True,
        env=_started(shell, script),
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert split_outputs(script, done.stdout, done.stderr)[3] is not None
    # The children sleep 160 s: waiting for them would take that long. The margin is wide so
    # that a loaded CI machine (the script's processes starting slowly) does not fail the test.
    assert elapsed < 30, "the script's output stayed open after its end"
    assert _wait_gone(f".{tag}", 10) == []


@pytest.mark.parametrize("children", [400, 40])
def test_what_is_forked_while_the_sweep_runs_is_swept_too(
    shell: dict[str, str], children: int
) -> None:
    """A process still forking setsid children when the script ends: those forked between the
    sweep's look and its KILL are found by the next pass. With few children the forker often
    forks them all and exits between the sweep's look (the last PID) and its grep, so the pass
    finds nothing: the sweep must still look at the PIDs started since (it did not: all 40
    were left alive in about 3 runs in 100 under three busy loops)."""
    tag = f"{random.randint(1000, 9999)}{uuid.uuid4().int % 1000}"
    forker = (
        f"i=0; while [ $i -lt {children} ]; do i=$((i + 1)); "
        f"setsid sleep 67.{tag} </dev/null >/dev/null 2>&1 & done"
    )
    script = compose_script([(f"sh -c '{forker}' </dev/null >/dev/null 2>&1 &", 5)])
    try:
        text = script.text.encode()
        environment = _started(shell, script)
        subprocess.run(["sh", "-s"], input=text, capture_output=True, env=environment, timeout=30)
        assert _wait_gone(f"67.{tag}", 10) == []
    finally:
        for line in _alive(f"67.{tag}"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split(":")[0]), 9)


def test_the_watchdog_ends_a_script_whose_controller_is_gone(shell: dict[str, str]) -> None:
    """Nobody reads the output (a stopped or killed controller): the script blocks on its pipe
    past its budget; the watchdog then ends it and everything its commands started."""
    tag = f"{random.randint(1000, 9999)}{uuid.uuid4().int % 1000}"
    script = compose_script(
        [
            (f"setsid sleep 63.{tag} </dev/null >/dev/null 2>&1 & head -c 1000000 /dev/zero", 1),
            (f"sleep 64.{tag}", 1),
        ]
    )
    assert script.budget == pytest.approx(5.0)  # the deadlines, the KILL margin, 1 s
    process = subprocess.Popen(
        ["sh", "-s", f"jarvisctl-run:{tag}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_started(shell, script),
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(script.text.encode())
    process.stdin.close()
    try:
        deadline = time.monotonic() + 5
        while not _alive(f"sleep 63.{tag}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(f"sleep 63.{tag}"), "the command never started"
        # the watchdog fires at the budget; its sweep walks /proc, which on a machine running
        # hundreds of other processes (a load of 100 seen) can take seconds of its own
        assert _wait_gone(f"63.{tag}", script.budget + 15) == []
        assert process.wait(timeout=3) == -9  # the script shell, KILLed by its watchdog
        assert _wait_gone(f"64.{tag}", 1) == []  # and it started nothing after
    finally:
        process.kill()
        process.stdout.close()


@pytest.mark.parametrize("leaves", [False, True])
def test_the_sweep_reads_environments_only_when_a_process_was_left(
    tmp_path: Path, leaves: bool
) -> None:
    """In a PID namespace of its own (no other process is started while the script runs), a
    script whose commands leave nothing runs no grep; one that leaves a process has it found."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (util-linux) for a PID namespace")
    log = tmp_path / "greps"
    wrapper = tmp_path / "bin" / "grep"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec /bin/grep "$@"\n')
    wrapper.chmod(0o755)
    commands = [("echo one", 5), ("df -P / >/dev/null", 5), ("sleep 0.2", 5)]
    if leaves:
        commands.append(("setsid sleep 65.5 </dev/null >/dev/null 2>&1 &", 5))
    script = compose_script(commands)
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-s"],
        input=script.text,
        capture_output=True,
        text=True,
        env=_started({**os.environ, "PATH": f"{wrapper.parent}:{os.environ['PATH']}"}, script),
        timeout=30,
    )
    assert split_outputs(script, done.stdout, done.stderr)[0] is not None, done.stderr
    greps = log.read_text().splitlines() if log.exists() else []
    # a pass that finds and KILLs, then one that finds nothing more alive (or a zombie); on a
    # loaded machine a KILLed process can still show its environment to the next pass, which
    # KILLs it again: up to the sweep's 5 passes
    assert (1 <= len(greps) <= 5) if leaves else greps == [], greps
