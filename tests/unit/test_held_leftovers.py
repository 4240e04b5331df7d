"""Partial snapshot files and scratch directories are held (flock) while their process lives:
the next writer sweeps, and reports, only those whose process is gone."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jarvisctl.backup.scratch import HeldScratch, sweep_scratch
from jarvisctl.backup.stores.local import LocalBackupStore, sweep_partials
from tests.backup.helpers import backup_plan

# A process that holds a file the way a writer does, until its stdin closes.
_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def held_elsewhere(path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def released(holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait(10)


def test_a_partial_file_no_process_holds_is_swept_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalBackupStore("local", tmp_path / "backups")
    directory = tmp_path / "backups" / "h1" / "conf"
    directory.mkdir(parents=True)
    dead = directory / ".old.tar.gz.abc123.partial"
    dead.write_bytes(b"half a snapshot")
    alive = directory / ".other.tar.gz.def456.partial"
    alive.write_bytes(b"being written")
    holder = held_elsewhere(alive)
    try:
        plan = backup_plan(paths=("/etc",))
        with (
            caplog.at_level(logging.WARNING, "jarvisctl.backup"),
            store.writer("snap-1", plan, "h1") as writer,
        ):
            writer.write(b"data")
            writer.commit()
        assert not dead.exists()
        assert alive.read_bytes() == b"being written"  # its writer lives
        assert [r.getMessage() for r in caplog.records] == [
            f"removed a partial snapshot file left by an interrupted jarvisctl process: {dead}"
        ]
    finally:
        released(holder)
    assert sweep_partials(directory) == [alive]  # its holder is gone now


def test_a_writer_in_progress_is_not_swept_by_another_in_the_same_process(tmp_path: Path) -> None:
    store = LocalBackupStore("local", tmp_path / "backups")
    plan = backup_plan(paths=("/etc",))
    with store.writer("snap-1", plan, "h1") as first:
        first.write(b"first")
        with store.writer("snap-2", plan, "h1") as second:
            second.write(b"second")
            second.commit()
        location, size = first.commit()
    assert (store.root / location).read_bytes() == b"first" and size == 5
    assert sorted(p.name for p in (store.root / "h1" / "conf").iterdir()) == [
        "snap-1.tar.gz",
        "snap-2.tar.gz",
    ]


def test_a_scratch_directory_no_process_holds_is_swept_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = tmp_path / ".verify-dead"
    (dead / "etc").mkdir(parents=True)
    (dead / "etc" / "passwd").write_text("extracted\n")
    (dead / "etc").chmod(0o500)  # as an extraction leaves a read-only directory
    alive = tmp_path / ".verify-alive"
    alive.mkdir()
    holder = held_elsewhere(alive)
    try:
        with caplog.at_level(logging.WARNING, "jarvisctl.backup"), HeldScratch(tmp_path) as root:
            assert root.is_dir() and root.name.startswith(".verify-")
            assert sweep_scratch(tmp_path) == []  # its own, held, is not swept
        assert not dead.exists() and alive.is_dir() and not root.exists()
        assert [r.getMessage() for r in caplog.records] == [
            f"removed a scratch directory left by an interrupted jarvisctl process: {dead}"
        ]
    finally:
        released(holder)
    assert sweep_scratch(tmp_path) == [alive]


def test_the_daemon_writes_each_sweep_in_its_own_log(tmp_path: Path) -> None:
    import io

    from jarvisctl.daemon.logs import EventLog, route_library_logs

    stream = io.StringIO()
    loggers = [logging.getLogger(name) for name in ("apscheduler", "jarvisctl.backup")]
    saved = [(logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    route_library_logs(EventLog(stream, "json"))
    try:
        (tmp_path / ".verify-dead").mkdir()
        sweep_scratch(tmp_path)
    finally:
        for logger, (handlers, propagate, level) in zip(loggers, saved, strict=True):
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)
    line = stream.getvalue()
    assert '"jarvisctl.backup"' in line and "removed a scratch directory" in line
    assert str(tmp_path / ".verify-dead") in line


def test_scratch_directories_older_versions_left_in_the_state_directory_are_swept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`backups verify` once extracted in `<state>/.verify-*` (unheld): the next verification,
    under `<state>/scratch`, removes those no live process holds, and reports each."""
    from jarvisctl.backup.scratch import STATE_SCRATCH
    from jarvisctl.engine.backups import SCRATCH

    assert STATE_SCRATCH == SCRATCH  # the name the run and `backups verify` extract under
    state = tmp_path / "state"
    old = state / ".verify-k2j4h1"
    (old / "etc").mkdir(parents=True)
    (old / "etc" / "shadow").write_text("extracted by an older jarvisctl\n")
    (old / "etc").chmod(0o500)
    alive = state / ".verify-alive"
    alive.mkdir()
    kept = [state / "state.db", state / "verify-notes", state / "backups"]
    kept[0].write_text("not a scratch directory\n")
    kept[1].write_text("no leading dot: not one of ours\n")
    kept[2].mkdir()
    holder = held_elsewhere(alive)
    try:
        with (
            caplog.at_level(logging.WARNING, "jarvisctl.backup"),
            HeldScratch(state / STATE_SCRATCH) as root,
        ):
            assert root.parent == state / STATE_SCRATCH
        assert not old.exists() and alive.is_dir() and all(p.exists() for p in kept)
        assert [r.getMessage() for r in caplog.records] == [
            f"removed a scratch directory left by an interrupted jarvisctl process: {old}"
        ]
        # any other scratch directory's parent is left alone
        (tmp_path / ".verify-beside").mkdir()
        assert sweep_scratch(tmp_path / "elsewhere") == []
        assert (tmp_path / ".verify-beside").is_dir()
    finally:
        released(holder)
    assert sweep_scratch(state / STATE_SCRATCH) == [alive]


def test_a_scratch_directory_swept_before_it_is_held_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts verifying at once: one's sweep can remove the other's new directory between
    its mkdtemp and its lock (seen in CI as "no scratch directory ...: No such file")."""
    import tempfile

    from jarvisctl.backup import scratch

    made: list[str] = []
    real = tempfile.mkdtemp

    def swept_once(*args: object, **kwargs: object) -> str:
        path = real(*args, **kwargs)  # type: ignore[call-overload]
        made.append(path)
        if len(made) == 1:
            os.rmdir(path)  # the other process's sweep, in the window
        return str(path)

    monkeypatch.setattr(scratch.tempfile, "mkdtemp", swept_once)
    with scratch.HeldScratch(tmp_path / "scratch") as root:
        assert root.is_dir() and str(root) == made[1]
    assert not Path(made[0]).exists()
