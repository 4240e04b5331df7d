"""Compose many read-only commands into ONE POSIX sh script, and split its output as it streams.

The script goes to `sh -s` on stdin, not on the command line: a check that looks for processes
by command line (pgrep -f) must not find the script that runs it. Each command runs with its
stdin from /dev/null, between delimiters that carry an unguessable token, on stdout and stderr
alike, followed by its own exit code. Each delimiter starts with a newline we add, so a
command's output is reproduced exactly, trailing newline or not.

A command is run by the script's own shell, with no process beside it: a plain program with
arguments as it is, anything else in a subshell through `eval` (its syntax, `exit` or `cd` stay
its own). Its deadline is the controller's: the connection ends the script when the running
command overruns (connection/overrun.py: TERM, then KILL), that command is reported timed out
(exit status 124, or 137 when KILL was needed, as coreutils `timeout` said), and the engine
runs the commands after it in a script of their own.

Nothing the script starts outlives it: every command carries a second random value in its
environment (JARVIS_RUN_TOKEN, inherited by whatever it starts, `setsid` or not; the script's
shell is started with it, connection/shell.py marker_assignment, so that its subshells and its
children before their exec show it in /proc too), and the script
ends with a sweep that KILLs every process whose /proc/PID/environ carries it (connection/
sweep.py), also when TERM ends it. The sweep only reads the environments of processes started
since the script began (the kernel's last PID, from /proc/loadavg), and only when there are
any, so a run that leaves nothing behind costs no process. A watchdog (a background subshell,
its `sleep` ended with it) outlives a dead controller: at the script's budget it KILLs the
script shell and sweeps every process.
"""

from __future__ import annotations

import math
import re
import secrets
import shlex
import time
from collections.abc import Sequence

from jarvisctl.connection.base import KILL_AFTER, KILLED_EXIT, TIMEOUT_EXIT
from jarvisctl.connection.capture import OUTPUT_TAIL_BYTES, StreamDigest, StreamTail
from jarvisctl.connection.sweep import RUN_TOKEN, SWEEP
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import CommandOutput


@frozen
class Script:
    """A composed script, and what splitting its output needs: the delimiters' token, how many
    commands it runs, and each one's deadline."""

    text: str
    token: str  # in the delimiters; never shown to the commands
    count: int
    budget: float  # the longest the whole script can take: every deadline plus the kill margin
    marker: str = ""  # the value of RUN_TOKEN in the commands' environment
    timeouts: tuple[float, ...] = ()  # each command's deadline, enforced by the controller


@frozen
class CommandCapture:
    """One command's output as kept: the tails (parsed), and what each stream was in all."""

    output: CommandOutput
    stdout: StreamDigest
    stderr: StreamDigest
    # from its begin mark's arrival to its end mark's, on the controller's clock (JUnit's time)
    seconds: float | None = None

    @property
    def truncated(self) -> bool:
        return self.stdout.truncated or self.stderr.truncated


# A command made only of these characters is a plain program with arguments: the script's
# shell can run it as it is. Anything else (pipes, redirections, variables, globs, quotes...)
# goes through `eval` in a subshell.
_PLAIN = re.compile(r"[A-Za-z0-9_./:,+@%=\- ]+")
# First words that would act on the script's own shell (builtins that change its state, or
# end it), or that are the shell's reserved words: such a command runs in a subshell.
_OWN_SHELL = frozenset(
    {
        *("cd", "export", "set", "unset", "alias", "unalias", "exit", "return", "eval", "exec"),
        *("read", "ulimit", "umask", "wait", "trap", "shift", "source", ".", ":", "break"),
        *("continue", "readonly", "local", "command", "getopts", "hash", "kill", "jobs", "fg"),
        *("bg", "times", "let", "typeset", "declare", "builtin", "enable", "shopt", "pushd"),
        *("popd", "disown", "suspend", "logout", "if", "then", "else", "elif", "fi", "do"),
        *("done", "case", "esac", "while", "until", "for", "in", "function", "select", "time"),
    }
)


def script_line(command: str) -> str:
    """The line of the script that runs `command`, with stdin from /dev/null."""
    words = command.split()
    plain = (
        bool(words)
        and _PLAIN.fullmatch(command) is not None
        and "=" not in words[0]
        and words[0] not in _OWN_SHELL
    )
    if plain:
        return f"{command} </dev/null"
    return f"( eval {shlex.quote(command)} ) </dev/null"


def compose_script(
    commands: Sequence[tuple[str, float]], token: str | None = None, marker: str | None = None
) -> Script:
    """One script for `(command, timeout)` pairs.

    A command's end mark and the next one's start mark go out in one `printf` per stream: each
    write of the script becomes an SSH data packet that sshd encrypts and the controller
    decrypts and parses, and delimiters are most of the writes.
    """
    token = token or secrets.token_hex(12)
    marker = marker or secrets.token_hex(12)
    mark = f"@@J{token}"
    timeouts = tuple(timeout for _, timeout in commands)
    budget = sum(timeouts) + KILL_AFTER + 1.0
    lines = [_prologue(marker, budget), _marks("", f"{mark}:B:0") if commands else ""]
    for index, (command, _) in enumerate(commands):
        after = f"{mark}:B:{index + 1}" if index + 1 < len(commands) else ""
        lines += [script_line(command), _marks(f"{mark}:E:{index}", after)]
    lines.append(_EPILOGUE)
    return Script("\n".join(lines) + "\n", token, len(commands), budget, marker, timeouts)


def _prologue(marker: str, budget: float) -> str:
    """Define the sweep (`_jk FIRST_PID`, connection/sweep.py) and the end (`_je`), note the
    last PID, start the watchdog, export the marker, and clear the positional parameters (the
    shell's own are the tag `sh -s` was given); a TERM (the controller ending the script, or
    the session) runs `_je`.

    The watchdog KILLs the script shell only if /proc/$$/stat still shows the start time it
    had (never another process that got its PID), then sweeps every process. Its `sleep` is
    ended with it (TERM trap, set once the sleep's PID is known: a trap that waited for every
    child could wait for a sleep it had no PID of), and carries the marker, so that a TERM
    that comes before the trap leaves it to the script's own sweep."""
    return (
        f"_jm={marker}\n{SWEEP}\n"
        '_je() { kill $_jw; wait $_jw; [ -z "$_jl" ] || _jk "$_jl"; } 2>/dev/null\n'
        "{ read -r _ _ _ _ _jl; } 2>/dev/null </proc/loadavg || _jl=\n"
        "{ read -r x </proc/$$/stat; x=${x##*) }; set -- $x; a=${20}; "
        f"{RUN_TOKEN}=$_jm sleep {math.ceil(budget)} & s=$!; "
        "trap 'kill $s; wait $s; exit' TERM; wait $s; "
        'read -r x </proc/$$/stat && x=${x##*) } && set -- $x && [ "${20}" = "$a" ] && '
        "kill -9 $$; _jk 0; } </dev/null >/dev/null 2>&1 &\n"
        f"_jw=$!\ntrap '_je; exit 143' TERM\nexport {RUN_TOKEN}=$_jm\nset --"
    )


_EPILOGUE = "_je"


def _marks(end: str, begin: str) -> str:
    """The line that prints an end mark (on stdout with the exit status) and/or a begin mark,
    each after a newline of ours, on stdout and on stderr. Marks are `@@J` and hex: no `%`."""
    out = err = args = ""
    if end:
        out, err, args = f"\\n{end}:%s", f"\\n{end}", ' "$?"'
    if begin:
        out, err = f"{out}\\n{begin}", f"{err}\\n{begin}"
    return f"printf '{out}\\n'{args}; printf '{err}\\n' >&2"


class ScriptOutput:
    """The output sink of a script: splits each stream by its delimiters as it arrives, keeping
    a bounded tail, the size and the sha256 of each command's section (OUTPUT_TAIL_BYTES).

    It is a WatchedSink (connection/base.py): it tells the connection when the running command
    overruns its deadline, counted from its begin mark's arrival, and learns from it that the
    command was ended; that command's capture then has what it printed until the script ended,
    and the exit status coreutils `timeout` gave (124 after TERM, 137 after KILL)."""

    def __init__(self, script: Script, limit: int = OUTPUT_TAIL_BYTES) -> None:
        self.script = script
        self._out = _Splitter(script, limit, with_code=True)
        self._err = _Splitter(script, limit, with_code=False)
        self._overrun: tuple[int, float] | None = None  # the command ended, and when
        self._killed = False

    def stdout(self, data: bytes, at: float | None = None) -> None:
        self._out.feed(data, at)

    def stderr(self, data: bytes, at: float | None = None) -> None:
        self._err.feed(data, at)

    @property
    def ended(self) -> bool:
        """The last command's end mark has arrived on both streams."""
        return self._out.ended and self._err.ended

    @property
    def marker(self) -> str:
        return self.script.marker

    def overrun_at(self) -> float | None:
        running = self._out.running
        if running is None or self._overrun is not None:
            return None
        index, began = running
        return began + self.script.timeouts[index]

    def overran(self, *, killed: bool) -> None:
        running = self._out.running
        if self._overrun is None and running is not None:
            self._overrun = (running[0], time.monotonic() - running[1])
        self._killed = self._killed or killed

    @property
    def overrun(self) -> int | None:
        """The index of the command the connection ended for overrunning its deadline."""
        return None if self._overrun is None else self._overrun[0]

    def captures(self) -> list[CommandCapture | None]:
        """Each command's output, or None for a command whose end never arrived (and that
        was not ended for overrunning its deadline)."""
        if self._overrun is not None:
            overrun, ran = self._overrun
            status = KILLED_EXIT if self._killed else TIMEOUT_EXIT
            self._out.cut(overrun, status, ran)
            self._err.cut(overrun, None, ran)
        results: list[CommandCapture | None] = []
        for index in range(self.script.count):
            out = self._out.sections.get(index)
            if out is None:
                results.append(None)
                continue
            err = self._err.sections.get(index, (StreamTail(0), None))[0]
            output = CommandOutput(out[0].text(), err.text(), out[1])
            seconds = self._out.seconds.get(index)
            results.append(CommandCapture(output, out[0].digest(), err.digest(), seconds))
        return results


def split_outputs(script: Script, stdout: str, stderr: str) -> list[CommandOutput | None]:
    """Each command's output from whole streams (the streaming split, fed at once)."""
    reader = ScriptOutput(script)
    reader.stdout(stdout.encode("utf-8", "surrogateescape"))
    reader.stderr(stderr.encode("utf-8", "surrogateescape"))
    return [None if c is None else c.output for c in reader.captures()]


# Longest mark line after the delimiter's prefix: `E:<index>:<status>`.
_MARK_MAX = 40
_MARK = re.compile(rb"(B|E):([0-9]+)(?::([0-9]+))?")


class _Splitter:
    """One stream of a script's output, cut into the commands' sections as chunks arrive.

    Marks are `\\n@@J<token>:B:<i>\\n` and `\\n@@J<token>:E:<i>[:<status>]`; a mark may
    arrive split across chunks, so the bytes that could be the start of one are held back
    (never more than the prefix and a mark line). Marks out of order, and bytes outside the
    sections (a login banner), are not taken as a command's."""

    def __init__(self, script: Script, limit: int, *, with_code: bool) -> None:
        self._prefix = f"\n@@J{script.token}:".encode()
        self._limit, self._with_code, self._count = limit, with_code, script.count
        self._pending = bytearray(b"\n")  # the stream starts as if after a newline
        self._open: tuple[int, StreamTail] | None = None
        self._next = 0  # the index whose begin mark comes next
        self.sections: dict[int, tuple[StreamTail, int | None]] = {}
        self.seconds: dict[int, float] = {}  # each command's, from its marks' arrival
        self._began = 0.0
        self._at = 0.0  # when the data being fed arrived
        self.ended = script.count == 0

    def feed(self, data: bytes, at: float | None = None) -> None:
        """Take `data`, which arrived at `at` (time.monotonic()), or now."""
        self._at = time.monotonic() if at is None else at
        pending = self._pending
        pending += data
        while True:
            at = pending.find(self._prefix)
            if at < 0:
                held = len(self._prefix) - 1  # the start of a prefix, perhaps
                self._take(pending, max(0, len(pending) - held))
                return
            self._take(pending, at)
            line_end = pending.find(b"\n", len(self._prefix))
            if line_end < 0:
                if len(pending) <= len(self._prefix) + _MARK_MAX:
                    return  # the rest of the mark line is still on its way
                self._take(pending, 1)  # too long for a mark: it is output
                continue
            found = _MARK.fullmatch(bytes(pending[len(self._prefix) : line_end]))
            if found is None or not self._mark(found):
                self._take(pending, 1)
                continue
            # a begin mark's newline is ours; an end mark's starts the next mark
            del pending[: line_end + 1 if found[1] == b"B" else line_end]

    @property
    def running(self) -> tuple[int, float] | None:
        """The command whose section is open, and when its begin mark arrived."""
        return None if self._open is None else (self._open[0], self._began)

    def cut(self, index: int, status: int | None, seconds: float) -> None:
        """End the open section of `index` (its command was ended), with what is held back:
        no more of the stream will come to tell a mark from output."""
        if self._open is None or self._open[0] != index:
            return
        self._take(self._pending, len(self._pending))
        self.sections[index] = (self._open[1], status)
        self.seconds[index] = seconds
        self._open = None

    def _take(self, pending: bytearray, size: int) -> None:
        """The first `size` pending bytes are output: the open section's, if any."""
        if size <= 0:
            return
        if self._open is not None:
            self._open[1].feed(bytes(pending[:size]))
        del pending[:size]

    def _mark(self, found: re.Match[bytes]) -> bool:
        """Apply a mark; False if it is not the one expected here (then it is output)."""
        index, status = int(found[2]), found[3]
        if found[1] == b"B":
            if self._open is not None or index != self._next or index >= self._count:
                return False
            self._open, self._next = (index, StreamTail(self._limit)), index + 1
            self._began = self._at
            return True
        if self._open is None or self._open[0] != index or (status is not None) != self._with_code:
            return False
        self.sections[index] = (self._open[1], None if status is None else int(status))
        self.seconds[index] = self._at - self._began
        self._open = None
        self.ended = index == self._count - 1
        return True
