"""kinds/base.first_line: the first line of a /proc or /sys file read by the shell itself, no
process of its own (no `cat`, no `head`), under dash, BusyBox ash and bash: the same bytes as
`head -n 1`, and a failure with the shell's message where `cat` would fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jarvisctl.kinds.base import first_line

SHELLS = {"dash": ["sh"], "busybox ash": ["busybox", "sh"], "bash": ["bash"]}


@pytest.fixture(params=list(SHELLS))
def shell(request: pytest.FixtureRequest) -> list[str]:
    argv = SHELLS[request.param]
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    return [shutil.which(argv[0]) or argv[0], *argv[1:]]


def run(shell: list[str], command: str) -> subprocess.CompletedProcess[bytes]:
    """`command` with no PATH at all: only the shell's built-ins can run."""
    return subprocess.run(
        [*shell, "-c", command], env={"PATH": "/nonexistent"}, capture_output=True, timeout=10
    )


@pytest.mark.parametrize(
    "content",
    [
        b"12345.67 23456.78\n",
        b"0.52 0.58 0.59 2/150 4242\n",
        b"1234\t0\t9223372036854775807\n",
        b"cpu  10 20 30 40 50 0 0 0 0 0\ncpu0 1 2 3 4 5 0 0 0 0 0\n",
        b"  leading and trailing blanks \t\n",
        b"back\\slash and 100% and $HOME\n",
        b"no newline at the end",
    ],
)
def test_the_first_line_as_head_gives_it(shell: list[str], content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    done = run(shell, first_line(str(path)))
    head = content.split(b"\n")[0] + b"\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, head, b"")


def test_real_proc_files(shell: list[str]) -> None:
    for name in ("/proc/loadavg", "/proc/uptime", "/proc/stat"):
        done = run(shell, first_line(name))
        expected = Path(name).read_bytes().split(b"\n")[0].split()
        line = done.stdout.split()
        # as many fields as the file's first line (their counters may move between the reads)
        assert done.returncode == 0 and len(line) == len(expected) > 1, (name, done)
    assert run(shell, first_line("/proc/stat")).stdout.startswith(b"cpu ")


def test_a_file_that_cannot_be_read_fails_with_the_shells_message(
    shell: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    done = run(shell, first_line(str(missing)))
    assert done.returncode != 0 and done.stdout == b""
    assert str(missing).encode() in done.stderr
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    done = run(shell, first_line(str(empty)))
    assert done.returncode != 0 and done.stdout == b""


def test_a_path_is_quoted(shell: list[str], tmp_path: Path) -> None:
    path = tmp_path / "a file; $HOME 'quoted'"
    path.write_bytes(b"line\n")
    done = run(shell, first_line(str(path)))
    assert (done.returncode, done.stdout) == (0, b"line\n")
