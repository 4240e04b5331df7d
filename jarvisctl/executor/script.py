"""Compose many read-only commands into ONE POSIX sh script, and split its output again.

The script goes to `sh -s` on stdin, not on the command line: a check that looks for processes
by command line (pgrep -f) must not find the script that runs it. Each command runs under
coreutils `timeout` with its stdin from /dev/null, between delimiters that carry an unguessable
token, on stdout and stderr alike, followed by its own exit code. Each delimiter starts with a
newline we add, so a command's output is reproduced exactly, trailing newline or not.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from jarvisctl.connection.base import KILL_AFTER
from jarvisctl.connection.shell import format_seconds
from jarvisctl.kinds.base import CommandOutput


@dataclass(frozen=True)
class Script:
    text: str
    token: str
    count: int
    budget: float  # the longest the whole script can take: every timeout plus kill margins


# A command made only of these characters is a plain program with arguments: `timeout` can run
# it directly, sparing the host a `sh -c` per check. Anything else (pipes, redirections,
# variables, globs, quotes...) keeps its shell.
_PLAIN = re.compile(r"[A-Za-z0-9_./:,+@%=\- ]+")
# Builtins with no program of their own: `timeout` could not run them.
_BUILTIN_ONLY = frozenset(
    {
        "cd",
        "export",
        "set",
        "unset",
        "alias",
        "unalias",
        "exit",
        "return",
        "eval",
        "exec",
        "read",
        "ulimit",
        "umask",
        "wait",
        "trap",
        "shift",
        "source",
        ".",
        ":",
        "break",
        "continue",
        "readonly",
        "local",
    }
)


def timed(command: str, timeout: float) -> str:
    """`command` under coreutils `timeout` (TERM, then KILL), with stdin from /dev/null."""
    words = command.split()
    plain = (
        bool(words)
        and _PLAIN.fullmatch(command) is not None
        and "=" not in words[0]
        and words[0] not in _BUILTIN_ONLY
    )
    target = command if plain else f"sh -c {shlex.quote(command)}"
    return f"timeout -k {format_seconds(KILL_AFTER)} {format_seconds(timeout)} {target} </dev/null"


def compose_script(commands: Sequence[tuple[str, float]], token: str | None = None) -> Script:
    """One script for `(command, timeout)` pairs.

    A command's end mark and the next one's start mark go out in one `printf` per stream: each
    write of the script becomes an SSH data packet that sshd encrypts and the controller
    decrypts and parses, and delimiters are most of the writes.
    """
    token = token or secrets.token_hex(12)
    mark = f"@@J{token}"
    lines = [_marks("", f"{mark}:B:0") if commands else ""]
    for index, (command, timeout) in enumerate(commands):
        after = f"{mark}:B:{index + 1}" if index + 1 < len(commands) else ""
        lines += [timed(command, timeout), _marks(f"{mark}:E:{index}", after)]
    budget = sum(timeout + KILL_AFTER for _, timeout in commands) + 1.0
    return Script("\n".join(lines) + "\n", token, len(commands), budget)


def _marks(end: str, begin: str) -> str:
    """The line that prints an end mark (on stdout with the exit status) and/or a begin mark,
    each after a newline of ours, on stdout and on stderr. Marks are `@@J` and hex: no `%`."""
    out = err = args = ""
    if end:
        out, err, args = f"\\n{end}:%s", f"\\n{end}", ' "$?"'
    if begin:
        out, err = f"{out}\\n{begin}", f"{err}\\n{begin}"
    return f"printf '{out}\\n'{args}; printf '{err}\\n' >&2"


def split_outputs(script: Script, stdout: str, stderr: str) -> list[CommandOutput | None]:
    """Each command's output, or None for a command whose end never arrived."""
    outs = _sections(script, stdout, with_code=True)
    errs = _sections(script, stderr, with_code=False)
    results: list[CommandOutput | None] = []
    for index in range(script.count):
        found = outs.get(index)
        if found is None:
            results.append(None)
            continue
        text, code = found
        results.append(CommandOutput(text, errs.get(index, ("", None))[0], code))
    return results


def _sections(script: Script, text: str, *, with_code: bool) -> dict[int, tuple[str, int | None]]:
    """Each command's section of one stream, found by its delimiters (str.find: a regular
    expression would be compiled anew for every script's token)."""
    mark = f"@@J{script.token}"
    text = "\n" + text
    found: dict[int, tuple[str, int | None]] = {}
    position = 0
    for index in range(script.count):
        begin = f"\n{mark}:B:{index}\n"
        start = text.find(begin, position)
        if start < 0:
            continue
        body = start + len(begin)
        end = f"\n{mark}:E:{index}"
        stop = text.find(end, body)
        if stop < 0:
            continue
        after = stop + len(end)
        line_end = text.find("\n", after)
        if line_end < 0:
            continue  # the end mark never got its newline: the command's end did not arrive
        tail = text[after:line_end]
        if with_code:
            if not (tail[:1] == ":" and tail[1:].isdigit() and tail[1:].isascii()):
                continue
            found[index] = (text[body:stop], int(tail[1:]))
        elif tail == "":
            found[index] = (text[body:stop], None)
        position = line_end
    return found
