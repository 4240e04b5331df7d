"""A controller killed with SIGKILL mid-way leaves files behind that no `finally` removed: the
store's partial snapshot file (`jarvisctl run`), the scratch directory of a restore
verification (`jarvisctl backups verify --restore`), and the temporary files a restore writes
beside its targets on the host (`jarvisctl backups restore`). Each is a real `jarvisctl` process
killed once its file is there; the next command of the same kind removes what was left and
says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

PLAYBOOK = """\
- name: keep
  hosts: HOST
  backups:
    - {name: big, paths: ["TREE"], compress: none, keep: {last: 3}}
"""
BIG = 160 * 1024 * 1024  # long enough on loopback for the kill to land mid-transfer


def jarvisctl_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "jarvisctl", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}


def jarvisctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        jarvisctl_args(*args),
        cwd=root,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def killed_once(root: Path, args: tuple[str, ...], there: Callable[[], Path | None]) -> Path:
    """Start `jarvisctl ARGS`, SIGKILL it as soon as `there()` finds its file, and return that
    file (still there: nothing in the killed process could remove it)."""
    process = subprocess.Popen(
        jarvisctl_args(*args),
        cwd=root,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            found = there()
            if found is not None:
                process.send_signal(signal.SIGKILL)
                process.wait(30)
                assert process.returncode == -signal.SIGKILL
                return found
            time.sleep(0.01)
        raise AssertionError(f"jarvisctl {' '.join(args)} ended ({process.poll()}) unseen")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def first(paths: list[Path], *, size: int = 0) -> Path | None:
    for path in paths:
        try:
            if path.lstat().st_size >= size:
                return path
        except FileNotFoundError:
            continue
    return None


@pytest.fixture
def host(sshd_hosts: list[SshdHost]) -> SshdHost:
    return sshd_hosts[0]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A big file on the host (the test hosts share this machine's filesystem)."""
    root = tmp_path / "on the host" / "tree"
    root.mkdir(parents=True)
    block = os.urandom(1024 * 1024)
    with (root / "blob").open("wb") as out:
        for _ in range(BIG // len(block)):
            out.write(block)
    (root / "conf").write_text("as taken\n")
    return root


@pytest.fixture
def project(tmp_path: Path, sshd_fleet: SshdFleet, host: SshdHost, tree: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    sshd_fleet.write_inventory(root / "inventory.yml")
    (root / "site.yml").write_text(PLAYBOOK.replace("HOST", host.name).replace("TREE", str(tree)))
    (root / "jarvisctl.yml").write_text("inventory: inventory.yml\nplaybooks: [site.yml]\n")
    return root


def partials(project: Path) -> list[Path]:
    return sorted(p for p in project.rglob("*.partial") if p.name.startswith("."))


def scratch_dirs(project: Path) -> list[Path]:
    return sorted(p for p in project.rglob(".verify-*") if p.is_dir())


def taken(project: Path) -> str:
    done = jarvisctl(project, "run", "site.yml", "-i", "inventory.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = jarvisctl(project, "backups", "list")
    assert listed.returncode == 0, listed.stderr
    (line,) = [line for line in listed.stdout.splitlines() if "-big-" in line]
    return next(word for word in line.split() if "-big-" in word)


def test_a_run_killed_mid_transfer_leaves_a_partial_file_the_next_run_sweeps(
    project: Path,
) -> None:
    left = killed_once(
        project,
        ("run", "site.yml", "-i", "inventory.yml"),
        lambda: first(partials(project), size=1024 * 1024),
    )
    assert left.exists() and partials(project) == [left]
    done = jarvisctl(project, "run", "site.yml", "-i", "inventory.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed a partial snapshot file left by an interrupted jarvisctl process: {left}" in (
        done.stderr
    )
    assert partials(project) == []
    stored = [p for p in project.rglob("*.tar") if p.parent.name == "big"]
    assert len(stored) == 1 and stored[0].stat().st_size > BIG  # the second run's, whole


def test_a_verification_killed_mid_extraction_leaves_a_directory_the_next_one_sweeps(
    project: Path,
) -> None:
    snapshot = taken(project)

    def extracting() -> Path | None:
        for directory in scratch_dirs(project):
            if first(sorted(directory.rglob("blob")), size=1024 * 1024) is not None:
                return directory
        return None

    left = killed_once(project, ("backups", "verify", "--restore", snapshot), extracting)
    assert left.is_dir() and scratch_dirs(project) == [left]
    done = jarvisctl(project, "backups", "verify", "--restore", snapshot)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed a scratch directory left by an interrupted jarvisctl process: {left}" in (
        done.stderr
    )
    assert "verified" in done.stdout
    assert scratch_dirs(project) == []


def test_a_restore_killed_mid_transfer_leaves_temporary_files_the_next_restore_removes(
    project: Path, host: SshdHost, tree: Path
) -> None:
    taken(project)
    (tree / "blob").write_bytes(b"changed since\n")
    (tree / "conf").write_text("changed since\n")

    def writing() -> Path | None:
        return first(sorted(tree.glob(".jarvisctl-new-*")), size=1024 * 1024)

    left = killed_once(project, ("backups", "restore", host.name, "big"), writing)
    # the host's tar ends once its connection is gone; what it wrote stays
    assert left.exists()
    assert (tree / "blob").read_bytes() == b"changed since\n"
    aside = tree / ".jarvisctl-old-0123abcd-1"  # as a restore killed after its renames leaves
    aside.write_text("what the host had before\n")
    (tree / ".jarvisctl-new-mine").write_text("not a restore's name\n")

    checked = jarvisctl(project, "backups", "restore", "--check", host.name, "big")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"would remove {str(left)!r}: left by an earlier restore that was cut off" in (
        checked.stdout
    )
    assert left.exists()  # --check changes nothing

    done = jarvisctl(project, "backups", "restore", host.name, "big")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed {str(left)!r}: left by an earlier restore that was cut off" in done.stdout
    assert not left.exists()
    assert f"left aside {str(aside)!r}: what an earlier restore that was cut off replaced" in (
        done.stdout
    )
    assert sorted(p.name for p in tree.iterdir()) == [
        ".jarvisctl-new-mine",
        ".jarvisctl-old-0123abcd-1",
        "blob",
        "conf",
    ]
    assert (tree / "blob").stat().st_size == BIG and (tree / "conf").read_text() == "as taken\n"

    aside.unlink()
    again = jarvisctl(project, "backups", "restore", host.name, "big")
    assert again.returncode == 0 and "earlier restore" not in again.stdout
