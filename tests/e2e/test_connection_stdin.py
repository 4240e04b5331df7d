"""Streamed input over SSH to real sshd hosts: bytes fed in chunks, never held whole."""

from __future__ import annotations

import shlex
import time
import tracemalloc
from pathlib import Path

import pytest

from jarvisctl.connection import open_connection
from jarvisctl.connection.ssh import SSHConnection
from jarvisctl.connection.stdin import StdinFeeder
from tests.e2e.sshd import SshdHost
from tests.streams import MIB, FailingSource, digest_of, pseudo_random_chunks

pytestmark = pytest.mark.e2e


def ssh(host: SshdHost) -> SSHConnection:
    connection = open_connection(host.settings())
    assert isinstance(connection, SSHConnection)
    return connection


def test_a_20_mib_stream_arrives_intact_on_the_host(
    sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    target = tmp_path / "arrived"
    size = 20 * MIB
    with ssh(sshd_hosts[0]) as connection:
        result = connection.run(
            f"cat > {shlex.quote(str(target))} && sha256sum < {shlex.quote(str(target))}",
            timeout=120,
            stdin=pseudo_random_chunks(size),
        )
    assert result.ok, result.describe()
    assert result.stdout.split()[0] == digest_of(pseudo_random_chunks(size))
    assert target.stat().st_size == size


def test_a_binary_file_and_bytes_are_streamed(sshd_hosts: list[SshdHost], tmp_path: Path) -> None:
    source = tmp_path / "source"
    with source.open("wb") as out:
        for block in pseudo_random_chunks(5 * MIB, seed=3):
            out.write(block)
    with ssh(sshd_hosts[1]) as connection, source.open("rb") as stream:
        from_file = connection.run("sha256sum", timeout=60, stdin=stream)
        from_bytes = connection.run("wc -c", timeout=60, stdin=b"\x00\xff" * 100_000)
    assert from_file.stdout.split()[0] == digest_of(pseudo_random_chunks(5 * MIB, seed=3))
    assert from_bytes.stdout.strip() == "200000"


def test_the_stream_is_never_held_whole_over_ssh(sshd_hosts: list[SshdHost]) -> None:
    with ssh(sshd_hosts[2]) as connection:
        connection.run("true", timeout=10)  # connected before measuring
        tracemalloc.start()
        try:
            result = connection.run("wc -c", timeout=120, stdin=pseudo_random_chunks(48 * MIB))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.stdout.strip() == str(48 * MIB)
    assert peak < 16 * MIB, peak


def test_a_failing_source_ends_the_remote_command_before_eof(
    sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    flag, data = tmp_path / "complete", tmp_path / "data"
    command = f"cat > {shlex.quote(str(data))} && echo yes > {shlex.quote(str(flag))}"
    with ssh(sshd_hosts[0]) as connection:
        started = time.monotonic()
        with pytest.raises(OSError, match="could not be read"):
            connection.run(command, timeout=60, stdin=FailingSource(3 * MIB))
        assert time.monotonic() - started < 20  # ended, not left to its timeout
        time.sleep(0.5)
        assert not flag.exists()  # the command never took the half stream for the whole
        assert connection.run("echo still usable", timeout=10).stdout == "still usable\n"


def test_a_command_that_reads_nothing_does_not_hang_over_ssh(sshd_hosts: list[SshdHost]) -> None:
    with ssh(sshd_hosts[3]) as connection:
        started = time.monotonic()
        result = connection.run("exit 3", timeout=60, stdin=pseudo_random_chunks(64 * MIB))
    assert result.exit_code == 3 and time.monotonic() - started < 15


class _FirstLookMisses(SSHConnection):
    """As when the input fails before the command has started on the host (sshd answers the
    exec request first): the first look for the tagged command finds nothing to end."""

    looks = 0

    def _on_the_side(self, command: str) -> None:
        self.looks += 1
        if self.looks > 1:
            super()._on_the_side(command)


def test_a_source_that_fails_before_the_command_started_still_ends_it(
    sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    flag = tmp_path / "complete"
    command = f"cat > /dev/null && echo yes > {shlex.quote(str(flag))}"
    with _FirstLookMisses(sshd_hosts[1].settings()) as connection:
        started = time.monotonic()
        with pytest.raises(OSError, match="could not be read"):
            connection.run(command, timeout=60, stdin=FailingSource(0))
        # looked for again, and ended: not left to its 60 s (before, it waited that long)
        assert time.monotonic() - started < 15
        assert connection.looks >= 2
        time.sleep(0.5)
        assert not flag.exists()
        assert connection.run("echo still usable", timeout=10).stdout == "still usable\n"


def test_a_small_input_is_sent_at_once_and_a_large_one_from_a_thread(
    sshd_hosts: list[SshdHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check script (a few KiB) is sent before the output is read, with no thread of its own:
    it fits in the channel's window, so a command that writes much before it reads still ends."""
    feeders: list[StdinFeeder] = []
    start = StdinFeeder.start
    monkeypatch.setattr(StdinFeeder, "start", lambda self: feeders.append(self) or start(self))
    with ssh(sshd_hosts[2]) as connection:
        small = connection.run(
            "head -c 8000000 /dev/zero | wc -c; wc -c", timeout=60, stdin="x" * 8000
        )
        assert small.stdout.split() == ["8000000", "8000"] and not feeders
        large = connection.run("wc -c", timeout=60, stdin=b"y" * 9000)
        assert large.stdout.strip() == "9000" and len(feeders) == 1
        empty = connection.run("wc -c", timeout=60, stdin=b"")
        assert empty.stdout.strip() == "0" and len(feeders) == 1
