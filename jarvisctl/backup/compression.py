"""The three ways a backup's stream is compressed (`compress: gzip|zstd|none`), read back.

gzip and none are handled in-process (zlib); zstd, which Python 3.11 lacks, through the
controller's `zstd` binary as a pipe. Both directions are streams: a chunk in, its
uncompressed bytes out to a file descriptor, so nothing holds a whole snapshot in memory.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol, cast

from jarvisctl.backup.errors import CompressionError

COMPRESSIONS = ("gzip", "zstd", "none")
# The host's side of each: the compressor the tar stream (or a command's output) is piped into.
HOST_COMPRESSOR = {"gzip": "gzip -c", "zstd": "zstd -q -c", "none": None}
# File name endings of a stored stream, by compression.
SUFFIX = {"gzip": ".gz", "zstd": ".zst", "none": ""}
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer, not a bare zlib stream
_CHUNK = 1024 * 1024
_INFLATE_INPUT = 64 * 1024  # compressed bytes inflated per call when reading a stored file
_GZIP_TRAILER = 8  # CRC-32 and size, at the end of each gzip member


def zstd_binary() -> str:
    """The controller's `zstd`, or a CompressionError that says how to get it."""
    found = shutil.which("zstd")
    if found is None:
        raise CompressionError(
            "compress: zstd needs the `zstd` command on this controller to read the data back, "
            "and it is not on PATH: install it (Debian: apt-get install zstd) or use "
            "compress: gzip"
        )
    return found


class Inflow(Protocol):
    """Compressed bytes in (`write`), their uncompressed bytes out to where it was made for."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """The end of the input: raises CompressionError if the stream was cut short or corrupt."""
        ...

    def abort(self) -> None:
        """Stop without checking: the transfer failed anyway."""
        ...


def inflow(compress: str, out: BinaryIO) -> Inflow:
    """An Inflow that writes the uncompressed bytes to `out` (a pipe or a process's stdin)."""
    if compress == "zstd":
        return _ZstdInflow(out)
    if compress == "gzip":
        return _GzipInflow(out)
    if compress == "none":
        return _PlainInflow(out)
    raise ValueError(f"unknown compression {compress!r} (valid: {', '.join(COMPRESSIONS)})")


class _PlainInflow:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write(self, data: bytes) -> None:
        self._out.write(data)

    def close(self) -> None:
        self._out.flush()

    def abort(self) -> None:
        """Nothing is held back: there is nothing to drop."""


class _GzipInflow:
    """zlib in the caller's thread (it releases the GIL while it works)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._inflater = zlib.decompressobj(_GZIP_WBITS)

    def write(self, data: bytes) -> None:
        # bounded pieces: a small chunk of a hostile stream may inflate to gigabytes
        try:
            while data:
                self._out.write(self._inflater.decompress(data, _CHUNK))
                if self._inflater.unconsumed_tail:
                    data = self._inflater.unconsumed_tail
                elif self._inflater.eof and self._inflater.unused_data:
                    # `gzip` writes one member; a concatenation is still valid gzip
                    data = self._inflater.unused_data
                    self._inflater = zlib.decompressobj(_GZIP_WBITS)
                else:
                    data = b""
        except zlib.error as exc:
            raise CompressionError(f"the gzip stream is corrupt: {exc}") from exc

    def close(self) -> None:
        if not self._inflater.eof:
            raise CompressionError("the gzip stream ends early (truncated)")
        self._out.flush()

    def abort(self) -> None:
        """Nothing is held back: there is nothing to drop."""


class _ZstdInflow:
    """`zstd -d` as a process between the caller and `out`: the pipe's buffers bound it."""

    def __init__(self, out: BinaryIO) -> None:
        self._process = subprocess.Popen(
            [zstd_binary(), "-d", "-q", "-c"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C is for jarvisctl, which ends it
        )

    def write(self, data: bytes) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(data)
        except BrokenPipeError as exc:  # zstd stopped reading: it found the stream corrupt
            raise CompressionError(f"the zstd stream is corrupt: {self._finish()}") from exc

    def close(self) -> None:
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.close()
        problem = self._finish()
        if problem is not None:
            raise CompressionError(f"the zstd stream does not decompress: {problem}")

    def abort(self) -> None:
        self._process.kill()
        with contextlib.suppress(BrokenPipeError):
            assert self._process.stdin is not None
            self._process.stdin.close()
        self._finish()

    def _finish(self) -> str | None:
        assert self._process.stderr is not None
        text = self._process.stderr.read(4096).decode(errors="replace").strip()
        self._process.stderr.close()
        if self._process.wait() == 0:
            return None
        return text or f"zstd exited with status {self._process.returncode}"


class _InflatingReader(io.RawIOBase):
    """A stored gzip file read as its uncompressed bytes; a truncated file is an error, not EOF.

    Read unbuffered (each read returns what one inflate gave, however short), so that an error
    is raised only once every byte inflated before it has been handed out: a BufferedReader
    would drop the bytes it had gathered for the read that met the error, and verification
    could no longer name the damaged file."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._pending = memoryview(b"")  # sliced as it is read: no copy of what is left
        self._held = b""
        # After an inflate failed: its input again, fed a byte at a time from the state before.
        self._replay = memoryview(b"")
        self._replaying = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending and not self._refill():
            return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _refill(self) -> bool:
        """More uncompressed bytes in `_pending`; False at the (checked) end of the stream."""
        while not self._pending:
            if self._inflater.unconsumed_tail:
                data: bytes | memoryview = self._inflater.unconsumed_tail
            elif self._inflater.eof and self._inflater.unused_data:
                data = self._inflater.unused_data
                self._inflater = zlib.decompressobj(_GZIP_WBITS)
            elif self._replay:
                data, self._replay = self._replay[:1], self._replay[1:]
            else:
                self._replaying = False
                data = self._read()
                if not data:
                    if not self._inflater.eof:
                        raise CompressionError("the stored gzip data ends early (truncated)")
                    return False
            self._pending = memoryview(self._inflate(data))
        return True

    def _inflate(self, data: bytes | memoryview) -> bytes:
        """What `data` inflates to. When a call fails, what it had inflated before the damage
        is lost with it, and verification would name a file before the damaged one: so the
        state from before the call is restored and the same input fed again a byte at a time,
        which hands out every byte up to the damage before the error is raised."""
        if self._replaying:
            try:
                return self._inflater.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise CompressionError(f"the stored gzip data is corrupt: {exc}") from exc
        before = self._inflater.copy()
        try:
            return self._inflater.decompress(data, _CHUNK)
        except zlib.error:
            self._inflater, self._replay, self._replaying = before, memoryview(data), True
            return b""

    def _read(self) -> bytes:
        """The next input, its last bytes held back until the file's end: a gzip member's
        trailer (CRC, size) is then checked by a call that inflates nothing, so a damaged file's
        bytes reach the reader before the error does, and verification names the file they
        belong to. (An error in the deflate data itself is found by `_inflate`'s replay.)"""
        while chunk := self._raw.read(_INFLATE_INPUT):
            data = self._held + chunk
            data, self._held = data[:-_GZIP_TRAILER], data[-_GZIP_TRAILER:]
            if data:
                return data
        data, self._held = self._held, b""
        return data

    def close(self) -> None:
        self._raw.close()
        super().close()


class _ProcessReader(io.RawIOBase):
    """A process's stdout, read to its end; a non-zero exit there is an error, not EOF."""

    def __init__(self, process: subprocess.Popen[bytes], what: str) -> None:
        self._process = process
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        assert self._process.stdout is not None
        data = os.read(self._process.stdout.fileno(), len(buffer))
        if not data:
            self._check_exit()
        buffer[: len(data)] = data
        return len(data)

    def _check_exit(self) -> None:
        assert self._process.stderr is not None
        text = self._process.stderr.read(8192).decode(errors="replace").strip()
        if self._process.wait() != 0:
            detail = text or f"exit status {self._process.returncode}"
            raise CompressionError(f"{self._what} failed: {detail}")

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()
        self._process.wait()
        super().close()


def process_reader(
    argv: list[str], what: str, env: dict[str, str] | None = None
) -> AbstractContextManager[BinaryIO]:
    """The stdout of `argv` as a buffered stream that raises CompressionError (`what` failed)
    when the process ends with a non-zero status; closing it early ends the process."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return cast(BinaryIO, io.BufferedReader(_ProcessReader(process, what), _CHUNK))


@contextlib.contextmanager
def opened_uncompressed(raw: BinaryIO, path: str, compress: str) -> Iterator[BinaryIO]:
    """A stored file (`raw`, open, at `path`) as its uncompressed bytes; closes `raw`."""
    if compress == "none":
        with raw:
            yield raw
    elif compress == "gzip":
        with cast(BinaryIO, _InflatingReader(raw)) as reader:
            yield reader
    elif compress == "zstd":
        raw.close()
        with process_reader([zstd_binary(), "-d", "-q", "-c", "--", path], "zstd -d") as reader:
            yield reader
    else:
        raw.close()
        raise ValueError(f"unknown compression {compress!r} (valid: {', '.join(COMPRESSIONS)})")
