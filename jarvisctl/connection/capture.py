"""A command's output, kept bounded: the last bytes of each stream, with the size and sha256 of all.

A command may print gigabytes; the controller keeps the end of it (what parsing and the journal's
tails use) and proves the rest by its digest and size, never the whole stream in memory.
"""

from __future__ import annotations

import hashlib

from jarvisctl.core.events import CommandOutput
from jarvisctl.core.frozen import frozen

# Bytes kept of each stream of each command: the end of it, which is what parsing sees. Large
# enough for a Prometheus answer or a long unit list; at most forks x commands x 2 of these are
# held at once, and only while their hosts' scripts run.
OUTPUT_TAIL_BYTES = 256 * 1024


@frozen
class StreamDigest:
    """What one output stream carried in all, beside the tail that was kept of it."""

    size: int  # bytes the stream carried
    sha256: str  # hex digest of all of them
    kept: int  # bytes kept, the last ones

    @property
    def truncated(self) -> bool:
        return self.size > self.kept


class StreamTail:
    """The last `limit` bytes fed to it, and the size and sha256 of everything fed."""

    def __init__(self, limit: int = OUTPUT_TAIL_BYTES) -> None:
        self._limit = limit
        self._tail = bytearray()
        self._sha = hashlib.sha256()
        self._size = 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._sha.update(data)
        self._size += len(data)
        if len(data) >= self._limit:
            self._tail[:] = data[-self._limit :]
            return
        self._tail += data
        if len(self._tail) > 2 * self._limit:  # trimmed now and then, not on every chunk
            del self._tail[: -self._limit]

    def text(self) -> str:
        """The kept bytes as text (a character cut at the start of the tail reads U+FFFD)."""
        return bytes(self._tail[-self._limit :]).decode(errors="replace")

    def digest(self) -> StreamDigest:
        return StreamDigest(self._size, self._sha.hexdigest(), min(self._size, self._limit))


class Capture:
    """The default output sink of a command: a bounded tail of stdout and of stderr."""

    def __init__(self, limit: int = OUTPUT_TAIL_BYTES) -> None:
        self.out = StreamTail(limit)
        self.err = StreamTail(limit)

    def stdout(self, data: bytes) -> None:
        self.out.feed(data)

    def stderr(self, data: bytes) -> None:
        self.err.feed(data)

    @property
    def ended(self) -> bool:
        return False  # a plain command has no end mark: its end is EOF (or the grace after exit)


def digest_of(text: str) -> StreamDigest:
    """The digest of an output held whole as text (a scripted result in a test, a message)."""
    tail = StreamTail()
    tail.feed(text.encode("utf-8", "surrogateescape"))
    return tail.digest()


def output_record(stdout: StreamDigest, stderr: StreamDigest) -> CommandOutput:
    """The journal's account of a command's whole output, beside its tails.

    `digest` covers both streams at once: the sha256 of the two streams' own digests
    (`"<stdout sha256>\\n<stderr sha256>\\n"`); each stream's digest and size is recorded too,
    so an operator can compare one with `cmd | sha256sum`.
    """
    both = hashlib.sha256(f"{stdout.sha256}\n{stderr.sha256}\n".encode()).hexdigest()
    return CommandOutput(
        digest=f"sha256:{both}",
        stdout_bytes=stdout.size,
        stderr_bytes=stderr.size,
        stdout_sha256=stdout.sha256,
        stderr_sha256=stderr.sha256,
        truncated=stdout.truncated or stderr.truncated,
    )
