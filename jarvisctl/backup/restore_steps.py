"""The host commands of one restore, each a script on stdin (or the tar stream), with their
output collected whole (it is one record per entry, not a file's data)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Sequence

from jarvisctl.backup.restore_host import (
    leftover_lines,
    parse_failures,
    parse_leftovers,
    q,
    runs_as,
    script,
)
from jarvisctl.backup.restore_plan import Placed
from jarvisctl.backup.restore_state import HostEntry, StateQuery
from jarvisctl.connection.base import CommandResult, Connection
from jarvisctl.connection.capture import StreamTail
from jarvisctl.core.frozen import frozen

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


# What became of each name an earlier, killed restore left, by its `l` mark.
_FATES = {
    "r": "removed",
    "w": "would remove",
    "n": "CANNOT remove",
    "k": "left aside",
}


@frozen
class Leftover:
    """A name left on the host by an earlier restore that never finished (its controller was
    killed), found beside this restore's targets: removed (its temporary files), or named and
    left alone (what it kept aside may be the only copy of what the host had before)."""

    path: str
    fate: str  # removed | would remove | CANNOT remove | left aside

    def describe(self) -> str:
        if self.fate == "left aside":
            return (
                f"left aside {self.path!r}: what an earlier restore that was cut off replaced; "
                "remove it once it is not needed"
            )
        return f"{self.fate} {self.path!r}: left by an earlier restore that was cut off"


@frozen
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
        query = StateQuery(paths)
        done = self.script(query.lines())
        if not done.ok:
            raise StepError(done.why("reading the current files"))
        try:
            return query.parse(done.out)
        except ValueError as exc:
            raise StepError(f"reading the current files: unexpected output ({exc})") from exc

    def leftovers(self, placed: Sequence[Placed], *, remove: bool) -> tuple[Leftover, ...]:
        """The names earlier restores left beside these targets (their controller was killed
        before its undo could run): temporary files removed (`remove`, else only listed),
        kept-aside files named."""
        directories = sorted({posixpath.dirname(p.path) for p in placed})
        done = self.script(leftover_lines(directories, remove=remove))
        if not done.ok:
            raise StepError(done.why("looking for what earlier restores left"))
        return tuple(Leftover(path, _FATES[mark]) for mark, path in parse_leftovers(done.out))

    def extract(self, stream: Iterator[bytes]) -> Done:
        """`tar -x` of the stream at /, every member a temporary name beside its target."""
        return self.run("tar -x -f - -C /", stream)

    def step(self, lines: Sequence[str], step: str) -> str | None:
        """Run a script that changes the host: None when it went through, else why not."""
        if not lines:
            return None
        done = self.script(lines)
        return None if done.ok else done.why(step)

    def undo(self, lines: Sequence[str]) -> list[int]:
        """Run an undo script; the indices it could not put back (StepError: it did not run)."""
        done = self.script(lines)
        if done.result.exit_code is None:
            raise StepError(done.why("putting the files back"))
        return parse_failures(done.out)


def undo_lines(
    files: Sequence[Placed], dirs: Sequence[Placed], before: Sequence[HostEntry], *, owners: bool
) -> list[str]:
    """The script that puts the host back whatever point the restore reached: directories' old
    owners and modes; each file (the last first), then each directory (the deepest first)
    undone by `u` from the names the restore left there."""
    lines = []
    for p in dirs:
        now = before[p.index]
        if now.type == "dir" and now.mode is not None:
            owner = f"{now.uid}:{now.gid}" if owners else ""
            lines.append(
                f"(a {q(p.path)} {q(owner)} {now.mode:04o}) || printf 'f%s\\000' {p.index}"
            )
    for p in reversed(files):
        lines.append(f"u {p.index} {q(p.path)} {q(p.temporary)} {q(p.kept)} {before[p.index].type}")
    for p in reversed(dirs):
        lines.append(f"u {p.index} {q(p.path)} '' {q(p.kept)} {before[p.index].type}")
    return lines
