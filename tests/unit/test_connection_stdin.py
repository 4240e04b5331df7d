"""Streamed input through the local connection: bytes, files and iterables, fed in chunks."""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path

import pytest

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.local import LocalConnection
from jarvisctl.connection.stdin import STDIN_CHUNK, stdin_chunks
from tests.fakes import FakeConnection
from tests.streams import MIB, FailingSource, digest_of, pseudo_random_chunks


def local() -> LocalConnection:
    return LocalConnection(ConnectionSettings(host="localhost", address="localhost"))


def test_chunks_of_text_bytes_files_and_iterables() -> None:
    big = bytes(range(256)) * (STDIN_CHUNK // 128 + 3)
    assert [len(c) for c in stdin_chunks(big)] == [STDIN_CHUNK, STDIN_CHUNK, 768]
    assert b"".join(stdin_chunks("é\n")) == "é\n".encode()
    assert b"".join(stdin_chunks(io.BytesIO(big))) == big
    assert list(stdin_chunks(io.BytesIO(b"a\nb\n"))) == [b"a\nb\n"]  # by size, not by line
    assert list(stdin_chunks(iter([b"a", b"", bytearray(b"b")]))) == [b"a", b"b"]


def test_a_20_mib_stream_arrives_intact(tmp_path: Path) -> None:
    size = 20 * MIB
    result = local().run("sha256sum", timeout=60, stdin=pseudo_random_chunks(size))
    assert result.ok, result.describe()
    assert result.stdout.split()[0] == digest_of(pseudo_random_chunks(size))


def test_a_binary_file_is_streamed_and_output_flows_at_the_same_time(tmp_path: Path) -> None:
    source = tmp_path / "source"
    with source.open("wb") as out:
        for block in pseudo_random_chunks(8 * MIB):
            out.write(block)
    with source.open("rb") as stream:  # cat echoes all of it back while it is still being fed
        result = local().run("cat; echo done >&2", timeout=60, stdin=stream)
    assert result.ok and result.stderr == "done\n"
    assert result.stdout_digest is not None
    assert result.stdout_digest.sha256 == digest_of(pseudo_random_chunks(8 * MIB))


def test_the_stream_is_never_held_whole() -> None:
    tracemalloc.start()
    try:
        result = local().run("wc -c", timeout=60, stdin=pseudo_random_chunks(64 * MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.stdout.strip() == str(64 * MIB)
    assert peak < 12 * MIB, peak


def test_a_source_that_fails_ends_the_command_before_it_sees_eof(tmp_path: Path) -> None:
    flag = tmp_path / "complete"
    command = f"cat > {tmp_path}/data && echo yes > {flag}"
    with pytest.raises(OSError, match="could not be read"):
        local().run(command, timeout=30, stdin=FailingSource(3 * MIB))
    time.sleep(0.2)
    assert not flag.exists()  # the command never took the half stream for the whole


def test_a_command_that_does_not_read_its_input_does_not_hang() -> None:
    started = time.monotonic()
    result = local().run("exit 0", timeout=30, stdin=pseudo_random_chunks(64 * MIB))
    assert result.ok and time.monotonic() - started < 10


def test_the_fake_reads_a_stream_into_the_call() -> None:
    fake = FakeConnection.for_host("web1").expect("sha256sum", stdout="x")
    fake.run("sha256sum", timeout=5, stdin=iter([b"ab", b"c"]))
    assert (fake.calls[-1].stdin, fake.calls[-1].data) == (None, b"abc")
