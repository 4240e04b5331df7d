"""A command's input: text, bytes, or a stream of bytes fed in chunks, never held whole.

A restore sends a snapshot (gigabytes) into `tar -x` on a host: the connection reads it from
its source a chunk at a time, from its own thread (a large input and a large output could
otherwise each wait for the other to be read), and closes the input at the end: EOF.

When READING THE SOURCE fails (a store that cannot be read, a stream cut short), the command is
ended before its input is closed: a command must never see a clean EOF after half of its input,
for it would take the half for the whole. The error is then raised by `Connection.run`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

# What `Connection.run(stdin=...)` takes: text (sent UTF-8), bytes, or an iterable of bytes
# chunks; a binary file (anything with `read`) is read STDIN_CHUNK bytes at a time.
StdinSource = str | bytes | Iterable[bytes]

STDIN_CHUNK = 262144


def stdin_chunks(source: StdinSource) -> Iterator[bytes]:
    """The input as non-empty chunks of at most STDIN_CHUNK bytes (a file's or an iterable's
    own chunks as they come)."""
    if isinstance(source, str):
        source = source.encode()
    if isinstance(source, bytes | bytearray | memoryview):
        whole = memoryview(source)
        for start in range(0, len(whole), STDIN_CHUNK):
            yield bytes(whole[start : start + STDIN_CHUNK])
        return
    read: Callable[[int], bytes] | None = getattr(source, "read", None)
    if read is not None:  # by size: iterating a binary file would yield "lines"
        while chunk := read(STDIN_CHUNK):
            yield chunk
        return
    for chunk in source:
        if chunk:
            yield bytes(chunk)


class StdinFeeder:
    """Feeds one command's stdin from a thread.

    `write(chunk)` passes a chunk on and says whether the command still takes input (False:
    it ended or closed its stdin; the rest is dropped, the command's result says why);
    `close()` sends EOF; `abort()` ends the command, called when the source fails.
    """

    def __init__(
        self,
        source: StdinSource,
        *,
        write: Callable[[bytes], bool],
        close: Callable[[], None],
        abort: Callable[[], None],
    ) -> None:
        self._source = source
        self._write, self._close, self._abort = write, close, abort
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._feed, name="stdin-feeder", daemon=True)

    def start(self) -> StdinFeeder:
        self._thread.start()
        return self

    def stop(self) -> None:
        """The command is over: feed no more (a chunk being read or written still finishes)."""
        self._stop.set()

    def finish(self, timeout: float = 1.0) -> None:
        """Stop and wait a little for the thread; raise the source's error, if reading it failed."""
        self.stop()
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def _feed(self) -> None:
        chunks = stdin_chunks(self._source)
        while not self._stop.is_set():
            try:
                chunk = next(chunks, None)
            except BaseException as exc:  # raised again by finish(), in the caller
                self.error = exc
                self._abort()  # before any EOF: the command must not take half for the whole
                return
            if chunk is None:
                self._close()
                return
            if not self._write(chunk):
                return
