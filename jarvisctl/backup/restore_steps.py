"""The host commands of one restore, each a script on stdin (or the tar stream), with their
output collected whole (it is one record per entry, not a file's data)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from jarvisctl.backup.restore_host import (
    HostEntry,
    parse_marks,
    parse_state,
    q,
    runs_as,
    script,
    state_lines,
)
from jarvisctl.backup.restore_plan import Placed
from jarvisctl.connection.base import CommandResult, Connection
from jarvisctl.connection.capture import StreamTail
from jarvisctl.store.snapshots import EntryType

_ERROR_TAIL = 16384


class StepError(Exception):
    """A host step that failed: the message says which step and how (its command's ending)."""


class _Collected:
    """An output sink: stdout whole (records), a tail of stderr for messages."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = StreamTail(_ERROR_TAIL)

    def stdout(self, data: bytes) -> None:
        self.out += data

    def stderr(self, data: bytes) -> None:
        self.err.feed(data)

    @property
    def ended(self) -> bool:
        return False


@dataclass(frozen=True)
class Done:
    """A step's result: its command's result, its stdout, and its stderr tail."""

    result: CommandResult
    out: bytes
    err: str

    @property
    def ok(self) -> bool:
        return self.result.ok

    def why(self, step: str) -> str:
        ending = (
            f"timed out after {self.result.duration:.0f}s"
            if self.result.timed_out
            else f"exited {self.result.exit_code}"
        )
        detail = " ".join(self.err.split())[-600:]
        return f"{step} on the host {ending}" + (f": {detail}" if detail else "")


class HostSteps:
    """Runs a restore's commands on one connection, as root when `become`."""

    def __init__(self, connection: Connection, *, become: bool, timeout: float) -> None:
        self._connection, self._become, self._timeout = connection, become, timeout

    def run(self, command: str, stdin: Iterable[bytes]) -> Done:
        sink = _Collected()
        result = self._connection.run(
            runs_as(command, self._become), timeout=self._timeout, stdin=stdin, sink=sink
        )
        return Done(result, bytes(sink.out), sink.err.text())

    def script(self, lines: Iterable[str]) -> Done:
        return self.run("sh", script(lines))

    def state(self, paths: Sequence[str]) -> tuple[bool, list[HostEntry]]:
        """(whether the host side runs as root, what each path is now)."""
        done = self.script(state_lines(paths))
        if not done.ok:
            raise StepError(done.why("reading the current files"))
        try:
            return parse_state(done.out, len(paths))
        except ValueError as exc:
            raise StepError(f"reading the current files: unexpected output ({exc})") from exc

    def extract(self, stream: Iterator[bytes]) -> Done:
        """`tar -x` of the stream at /, every member a temporary name beside its target."""
        return self.run("tar -x -f - -C /", stream)

    def marks(self, lines: Iterable[str], step: str) -> tuple[list[tuple[str, int]], str | None]:
        """Run a marking script: (its marks, None) or (the marks so far, why it failed)."""
        done = self.script(lines)
        return parse_marks(done.out), (None if done.ok else done.why(step))


def undo_lines(
    placed: Sequence[Placed],
    marks: Iterable[tuple[str, int]],
    temporaries: Iterable[int],
    old_dirs: Iterable[tuple[Placed, HostEntry]],
    *,
    owners: bool,
) -> list[str]:
    """The script that puts the host back: directories' old owners and modes, each committed
    or kept-aside entry put back (the last first), the temporary files removed, the
    directories the restore made removed (the deepest first)."""
    kept = {index for mark, index in marks if mark == "k"}
    touched = [index for mark, index in marks if mark in "kcm"]
    lines = [
        f"a {p.index} {q(p.path)} {q(_owner(now.uid, now.gid) if owners else '')} "
        f"{now.mode or 0:04o}"
        for p, now in old_dirs
        if now.mode is not None
    ]
    order = list(dict.fromkeys(reversed(touched)))  # the last touched first, each once
    is_dir = {i for i in order if placed[i].entry.type is EntryType.DIR}
    lines.extend(_put_back(placed[i], i in kept) for i in order if i not in is_dir)
    lines.extend(f"rm -f -- {q(placed[i].temporary)}" for i in temporaries)
    lines.extend(_put_back(placed[i], i in kept) for i in order if i in is_dir)
    return lines


def _put_back(p: Placed, kept: bool) -> str:
    return f"r {p.index} {q(p.path)} {q(p.kept if kept else '')}"


def _owner(uid: int | None, gid: int | None) -> str:
    return "" if uid is None or gid is None else f"{uid}:{gid}"


def owner_of(placed: Placed, owners: bool) -> str:
    return f"{placed.entry.uid}:{placed.entry.gid}" if owners else ""
