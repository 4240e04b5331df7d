"""Run an inventory script, bounded: a time limit, and a cap on the output read."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from jarvisctl.core.frozen import frozen

# An inventory script queries a cloud API or a CMDB: seconds, not minutes. A script that hangs
# must not hang `plan` (a CI job) with it.
SCRIPT_TIMEOUT = 60.0
# The JSON of 100,000 hosts (MAX_HOSTS) with a few variables each fits in this.
MAX_SCRIPT_OUTPUT = 64 * 1024 * 1024
STDERR_TAIL = 2000  # characters of standard error shown in a message
_CHUNK = 65536
TOO_SLOW = "did not finish within {timeout} s"


@frozen
class ScriptRun:
    """How one run of an inventory script ended: its exit status and what it printed, or why it was
    stopped."""

    returncode: int
    stdout: bytes
    stderr: str  # its tail, decoded, for messages
    problem: str = ""  # why it was stopped: too slow or too much output


def run_script(
    path: Path,
    options: Sequence[str],
    timeout: float | None = None,
    limit: int | None = None,
) -> ScriptRun:
    """Run `path OPTIONS` with no input; a run past `timeout` or printing more than `limit`
    bytes is stopped (its whole process group) and says why in `problem`. OSError when it
    cannot be started (ENOEXEC: the file is not a program)."""
    process = subprocess.Popen(
        [str(path.absolute()), *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its children are ended with it
    )
    timeout = SCRIPT_TIMEOUT if timeout is None else timeout
    limit = MAX_SCRIPT_OUTPUT if limit is None else limit
    deadline = time.monotonic() + timeout
    with process:
        stdout, stderr, problem = _collect(process, deadline, limit)
        if not problem:
            try:  # it may close its output and go on running
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problem = TOO_SLOW
        if problem:
            _end(process)
            problem = problem.format(timeout=f"{timeout:g}", limit=f"{limit // 1048576} MiB")
        returncode = process.wait()
    tail = stderr[-STDERR_TAIL * 4 :].decode("utf-8", errors="replace").strip()[-STDERR_TAIL:]
    return ScriptRun(returncode, stdout, tail, problem)


def _collect(
    process: subprocess.Popen[bytes], deadline: float, limit: int
) -> tuple[bytes, bytes, str]:
    assert process.stdout is not None and process.stderr is not None
    out: list[bytes] = []
    err = bytearray()
    size = 0
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        selector.register(process.stderr, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return b"".join(out), bytes(err), TOO_SLOW
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.fileobj is process.stdout:
                    size += len(chunk)
                    if size > limit:
                        return b"".join(out), bytes(err), "printed more than {limit}"
                    out.append(chunk)
                else:
                    err += chunk
                    del err[: max(0, len(err) - STDERR_TAIL * 4)]  # only its tail is shown
    return b"".join(out), bytes(err), ""


def _end(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
