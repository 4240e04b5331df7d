"""Reading a host's files for a restore with POSIX sh: run for real, by dash and by busybox sh
with only busybox's applets, over names that stat and sha256sum print ambiguously."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from jarvisctl.backup.restore_host import script
from jarvisctl.backup.restore_state import BATCH, HostEntry, StateQuery

NAMES = [
    "plain",
    "two  spaces",
    "-dash",
    "new\nline",
    "back\\slash",
    "it's",
    "cr\rhere",
    "$(echo no)",
]


def shells(tmp_path: Path) -> list[tuple[list[str], dict[str, str]]]:
    """dash with this machine's PATH, and busybox sh with a PATH of busybox applets only."""
    found = [(["/bin/sh"], dict(os.environ))]
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is not installed (Debian package busybox)")
    applets = tmp_path / "applets"
    applets.mkdir()
    listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    for name in listed.stdout.split():
        (applets / name).symlink_to(busybox)
    found.append(([busybox, "sh"], {"PATH": str(applets)}))
    return found


def read(paths: list[str], shell: list[str], env: dict[str, str]) -> tuple[bool, list[HostEntry]]:
    query = StateQuery(paths)
    done = subprocess.run(
        shell, input=b"".join(script(query.lines())), capture_output=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return query.parse(done.stdout)


def test_every_kind_of_entry_and_name_reads_the_same_in_dash_and_busybox(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    paths: list[str] = []
    expected: list[HostEntry] = []
    for number, name in enumerate(NAMES):
        data = f"file {number}\n".encode()
        (tree / name).write_bytes(data)
        (tree / name).chmod(0o640)
        digest = hashlib.sha256(data).hexdigest()
        paths.append(str(tree / name))
        expected.append(HostEntry("file", 0o640, 0, 0, len(data), digest))
    (tree / "link\nname").symlink_to("target\nwith newline\n")
    (tree / "dir").mkdir(mode=0o751)
    os.mkfifo(tree / "fifo", 0o600)
    paths += [str(tree / "link\nname"), str(tree / "dir"), str(tree / "fifo"), str(tree / "gone")]
    link = os.lstat(tree / "link\nname")
    expected += [
        HostEntry("symlink", 0o777, 0, 0, link.st_size, target="target\nwith newline\n"),
        HostEntry("dir", 0o751, 0, 0, os.stat(tree / "dir").st_size),
        HostEntry("other", 0o600, 0, 0, 0),
        HostEntry("missing"),
    ]
    for shell, env in shells(tmp_path):
        root, entries = read(paths, shell, env)
        assert root
        assert entries == expected, shell


def test_many_paths_go_in_batches(tmp_path: Path) -> None:
    count = BATCH * 3 + 5
    for number in range(count):
        (tmp_path / f"f{number}").write_text(str(number))
    paths = [str(tmp_path / f"f{n}") for n in range(count)]
    assert sum(1 for line in StateQuery(paths).lines() if line.startswith("b ")) == 4
    for shell, env in shells(tmp_path):
        _, entries = read(paths, shell, env)
        digests = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(count)]
        assert [e.sha256 for e in entries] == digests


def test_output_that_does_not_fit_the_lines_is_refused() -> None:
    query = StateQuery(["/a", "/b"])
    with pytest.raises(ValueError, match="types"):
        query.parse(b"0\0f\0\0\0")
    with pytest.raises(ValueError, match="NUL"):
        query.parse(b"0\0ff\0\0\0cut")
    with pytest.raises(ValueError, match="left over"):
        query.parse(b"0\0mm\0\0\0extra\0")


def test_a_missing_tool_is_named(tmp_path: Path) -> None:
    busybox = shutil.which("busybox")
    assert busybox is not None
    applets = tmp_path / "no-sha256sum"
    applets.mkdir()
    for name in ("sh", "stat", "readlink", "printf", "id"):
        (applets / name).symlink_to(busybox)
    done = subprocess.run(
        [busybox, "sh"],
        input=b"".join(script(StateQuery([str(tmp_path)]).lines())),
        capture_output=True,
        env={"PATH": str(applets)},
        timeout=60,
    )
    assert done.returncode == 4
    assert b"sha256sum is not on the host's PATH" in done.stderr
