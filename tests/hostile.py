"""Shared by the hostile-input tests: a copy of the shipped project, the CLI run in-process with
a deadline or as a bounded subprocess, and the judgement of what came out.

An outcome is acceptable when the command exited 0 (the input happened to be valid) or exited 3
with every error line located at a file that exists (`error: FILE:LINE:COL: ...` with LINE
inside the file, or `error: FILE: ...`); anything else (a traceback, another exit code, an
unlocated message, a hang, memory exhausted) is a failure with the reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from click.testing import CliRunner

from jarvisctl.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("playbooks", "inventory", "checks", "remediations", "jarvisctl.yml")
ERROR_LINE = re.compile(r"^error: (?P<file>[^\n]+?)(?::(?P<line>\d+):(?P<column>\d+))?: \S")
SUMMARY = re.compile(r"^\d+ configuration errors?$")
# What one subprocess may use: the interpreter with jarvisctl imported takes about 60 MiB of
# RSS and 400 MiB of address space; a bounded refusal stays far under this.
MEMORY_LIMIT = 1024 * 1024 * 1024


def copy_project(destination: Path) -> Path:
    """The shipped playbooks, inventories, catalogues and jarvisctl.yml, in a new directory."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy(source, destination / name)
    return destination


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def verdict(self, cwd: Path) -> str:
        """'valid', 'located', or what is wrong with the outcome."""
        if "Traceback" in self.stderr or "Traceback" in self.stdout:
            return "traceback"
        if self.exit_code == 0:
            return "valid"
        if self.exit_code != 3:
            return f"exit {self.exit_code}"
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        if not lines:
            return "exit 3 with nothing on stderr"
        for line in lines:
            if SUMMARY.match(line):
                continue
            wrong = _unlocated(line, cwd)
            if wrong:
                return wrong
        return "located"


def _unlocated(line: str, cwd: Path) -> str:
    match = ERROR_LINE.match(line)
    if match is None:
        return f"not a located error line: {line[:200]!r}"
    file = cwd / match["file"]
    if not os.path.lexists(file):
        return f"names no existing file: {line[:200]!r}"
    if match["line"] is None or not file.is_file() or file.stat().st_size > 16 * 1024 * 1024:
        return ""
    with file.open("rb") as handle:
        count = handle.read().count(b"\n") + 1
    if not 1 <= int(match["line"]) <= count or int(match["column"]) < 1:
        return f"line {match['line']} is not in the file ({count} lines): {line[:200]!r}"
    return ""


class DeadlineError(Exception):
    """The code under test took longer than it may (a FIFO opened for reading, a bomb)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the test after `seconds`: a blocking open() or read() of a FIFO is interrupted
    by the signal and the handler's exception ends it, instead of hanging the suite."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise DeadlineError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def plan_in_process(args: Sequence[str], cwd: Path, seconds: float = 10) -> Outcome:
    """`jarvisctl plan ARGS` in this process (fast enough for thousands of inputs)."""
    with pytest_chdir(cwd), deadline(seconds):
        result = CliRunner().invoke(cli, ["plan", *args])
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc = result.exception
        stderr += f"\nTraceback (in process): {type(exc).__name__}: {exc}"
    return Outcome(result.exit_code, result.stdout, stderr)


@contextlib.contextmanager
def pytest_chdir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def jarvisctl_subprocess(
    args: Sequence[str], cwd: Path, timeout: float = 30, prefix: Sequence[str] = ()
) -> Outcome:
    """`jarvisctl ARGS` as its own process, with a wall-clock timeout and RLIMIT_AS."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "JARVISCTL_STATE_DIR": str(cwd / ".state")}
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "jarvisctl", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        return Outcome(-1, "", f"hang: no answer in {timeout} s")
    stderr = done.stderr
    if "MemoryError" in stderr:
        stderr += "\nTraceback: memory limit reached"
    return Outcome(done.returncode, done.stdout, stderr)
