"""Redaction where text leaves the program: standard output and error, and files.

Every jarvisctl command runs inside `redacted_output`, which the CLI's front door
(`commands.common.report_errors`) enters: it replaces `sys.stdout` and `sys.stderr` with
`RedactingStream`s fed by the command's `SecretValues`, for the command's duration only. So
every message (click.echo, print, a logging handler, an error printed on the way out, even a
traceback) is redacted without its author doing anything; files go through `write_redacted`.

Replacing the process's streams is process-wide state on purpose: a writer that forgets to
redact cannot exist, which is the point. It is installed by the front door only, explicitly,
and put back when the command ends.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from jarvisctl.core.secrets import SecretValues

PENDING_LIMIT = 1 << 20  # a line longer than this is written (redacted) in pieces


class RedactingStream(io.TextIOBase):
    """A text stream that writes its text to `inner` with the secrets redacted.

    Text is held until a line ends (or `flush`), so a secret written in several pieces
    (`print(a, b)` writes a, " ", b, "\\n") is still whole when it is redacted.
    """

    def __init__(self, inner: TextIO, secrets: SecretValues) -> None:
        super().__init__()
        self.inner, self.secrets = inner, secrets
        self._pending: list[str] = []
        self._size = 0
        self._lock = threading.RLock()
        self.closed_by_reader = False  # the pipe's reader is gone: the rest is dropped

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            self._pending.append(text)
            self._size += len(text)
            if text.endswith("\n") or self._size > PENDING_LIMIT:
                self._emit()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._emit()
            if not self.closed_by_reader:
                self._guarded(self.inner.flush)

    def _emit(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending, self._size = [], 0
            if not self.closed_by_reader:
                self._guarded(lambda: self.inner.write(self.secrets.redactor().text(text)))

    def _guarded(self, write: Callable[[], object]) -> None:
        """A reader that went away (`jarvisctl runs | head`) ends the output, not the command:
        a run goes on remediating and recording (the journal is its truth) and exits with its
        own code, and nothing prints a traceback. What is left of the output goes nowhere:
        the stream's descriptor is pointed at /dev/null, so that the interpreter's last flush
        of the buffered bytes does not fail again at exit."""
        try:
            write()
        except BrokenPipeError:
            self.closed_by_reader = True
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.inner.fileno())
                os.close(devnull)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None) or "strict"


@contextmanager
def redacted_output(secrets: SecretValues) -> Iterator[SecretValues]:
    """sys.stdout and sys.stderr redacted with `secrets` until the block ends."""
    original = sys.stdout, sys.stderr
    sys.stdout = RedactingStream(original[0], secrets)
    sys.stderr = RedactingStream(original[1], secrets)
    try:
        yield secrets
    finally:
        for stream in (sys.stdout, sys.stderr):
            # a closed pipe: nothing more can be shown anyway
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = original


def write_redacted(path: Path, text: str, secrets: SecretValues) -> None:
    """Write `text` with the secrets redacted to `path`, atomically: a temporary file beside
    it, then a rename, so readers (a metrics collector, CI) never see half a file.
    OSError is the caller's to turn into its message."""
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}")
    # mode 0666 less the umask, as a plain open() gives: node_exporter may read it as another user
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.redactor().text(text))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
