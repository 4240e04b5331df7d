"""The shell side of a restore: POSIX sh scripts that read, prepare, commit, verify and undo on a
host with nothing but sh, coreutils (or busybox) and tar.

Every script is sent on the command's stdin (`sh` reads it from there), never as an argument:
a restore of many files would pass the kernel's 128 KiB limit on one argument. Each value in a
script is a single word quoted by shlex.quote, so a name with spaces, quotes, a newline or a
leading dash arrives as itself; every path is absolute, so none can be read as an option.
Output is NUL-separated: a newline in a name cannot split a record.

The functions each script starts with:
- `s PATH`: what PATH is now, without following a symlink at PATH: six fields (type, mode in
  octal, uid, gid, size, sha256 of a file or target of a symlink); type `missing` when absent.
- `d PATH KEEP`: PATH becomes a real directory; a symlink or file found there is renamed to
  KEEP (same directory, hidden).
- `c TMP PATH KEEP`: the file written beside its target as TMP (its owner and mode already set,
  by `chown -h`/`chmod` over many files at once) is renamed to PATH. A regular file at PATH is
  first kept by a hard link at KEEP, so that PATH is replaced atomically; anything else there
  (a symlink, a directory) is renamed to KEEP first, so the rename never writes through a
  symlink or into a directory.
- `a PATH OWNER MODE`: a directory's owner (when given) and mode.
- `u N PATH TMP KEEP WAS`: undo whatever the restore did at PATH, read from the names it left
  (TMP and KEEP carry the restore's random token, so they are its own): what is at KEEP goes
  back to PATH; else, when nothing was at PATH before (WAS `missing`), what is there now is
  removed (a directory only when empty); TMP is removed. It needs no record of how far the
  restore got, so it also undoes one cut off by Ctrl-C. Marks `fN` when it could not.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Each script's opening: stop at the first failure of a step that must not be skipped.
_FUNCTIONS = r"""
s() {
  if [ -L "$1" ]; then t=$(readlink -- "$1"; echo x); set -- "$1" symlink "${t%?x}"
  elif [ -d "$1" ]; then set -- "$1" dir ""
  elif [ -f "$1" ]; then h=$(sha256sum < "$1") || h=x; set -- "$1" file "${h%% *}"
  elif [ -e "$1" ]; then set -- "$1" other ""
  else printf 'missing\000\000\000\000\000\000'; return 0; fi
  m=$(stat -c '%a %u %g %s' -- "$1") || m='x x x x'
  printf '%s\000' "$2" $m "$3"
}
d() {
  if [ -L "$1" ] || { [ -e "$1" ] && [ ! -d "$1" ]; }; then mv -f -- "$1" "$2" || exit 3; fi
  [ -d "$1" ] || mkdir -- "$1" || exit 3
}
c() {
  if [ -f "$2" ] && [ ! -L "$2" ] && ln -- "$2" "$3" 2>/dev/null; then
    mv -f -- "$1" "$2" || { rm -f -- "$3"; exit 3; }
  else
    if [ -e "$2" ] || [ -L "$2" ]; then mv -f -- "$2" "$3" || exit 3; fi
    mv -f -- "$1" "$2" || exit 3
  fi
}
a() {
  if [ -n "$2" ]; then chown -- "$2" "$1" || exit 3; fi
  chmod -- "$3" "$1" || exit 3
}
x() {
  if [ -d "$1" ] && [ ! -L "$1" ]; then rmdir -- "$1"; else rm -f -- "$1"; fi
}
u() {
  if [ -e "$4" ] || [ -L "$4" ]; then
    if [ ! -L "$2" ] && [ ! -L "$4" ] && [ "$2" -ef "$4" ]; then rm -f -- "$4"
    elif { [ -L "$2" ] || [ -d "$2" ] || [ -d "$4" ]; } && { [ -e "$2" ] || [ -L "$2" ]; }; then
      x "$2" && mv -f -- "$4" "$2"
    else mv -f -- "$4" "$2"
    fi
  elif [ "$5" = missing ] && { [ -e "$2" ] || [ -L "$2" ]; }; then x "$2"
  fi || printf 'f%s\000' "$1"
  if [ -n "$3" ]; then rm -f -- "$3"; fi
}
"""

# The first field every script prints: whether it runs as root (owners can be set).
_WHO = "printf '%s\\000' \"$(id -u)\"\n"

STATE_FIELDS = 6


@dataclass(frozen=True)
class HostEntry:
    """What one path is on the host now (`type` "missing": nothing there)."""

    type: str  # file, dir, symlink, other, missing
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    sha256: str | None = None  # a file's; None when it could not be read
    target: str | None = None  # a symlink's


def q(value: str) -> str:
    """`value` as one shell word outside quotes."""
    return shlex.quote(value)


def script(lines: Iterable[str]) -> Iterator[bytes]:
    """A script's bytes, a few hundred lines at a time: the functions, who runs it, `lines`."""
    yield (_FUNCTIONS + _WHO).encode()
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= 256:
            yield ("\n".join(batch) + "\n").encode("utf-8", "surrogateescape")
            batch = []
    yield ("\n".join(batch) + "\n").encode("utf-8", "surrogateescape")


def batched(command: str, paths: Iterable[str]) -> Iterator[str]:
    """`command` over the paths, a few dozen to a line (each path one quoted word), each line
    ending the script if it fails: one process for many files, far below ARG_MAX."""
    line: list[str] = []
    size = 0
    for path in paths:
        word = q(path)
        line.append(word)
        size += len(word) + 1
        if len(line) >= 64 or size > 65536:
            yield f"{command} {' '.join(line)} || exit 3"
            line, size = [], 0
    if line:
        yield f"{command} {' '.join(line)} || exit 3"


def state_lines(paths: Iterable[str]) -> Iterator[str]:
    return (f"s {q(path)}" for path in paths)


def runs_as(command: str, become: bool) -> str:
    """`command` as root when `become` and the login user is not root (sudo, no prompt)."""
    if not become:
        return command
    return f'if [ "$(id -u)" = 0 ]; then exec {command}; else exec sudo -n -- {command}; fi'


def parse_state(output: bytes, count: int) -> tuple[bool, list[HostEntry]]:
    """(whether it ran as root, one HostEntry per path asked about) from a state script's output;
    ValueError when it is not what `count` paths give."""
    fields = output.split(b"\0")
    if fields[-1] != b"":
        raise ValueError("the state output does not end with a NUL")
    fields.pop()
    if len(fields) != 1 + count * STATE_FIELDS:
        raise ValueError(f"{len(fields)} state fields for {count} paths")
    root = fields[0] == b"0"
    entries = [
        _entry([f.decode("utf-8", "surrogateescape") for f in fields[at : at + STATE_FIELDS]])
        for at in range(1, len(fields), STATE_FIELDS)
    ]
    return root, entries


def _entry(fields: list[str]) -> HostEntry:
    kind, mode, uid, gid, size, extra = fields
    if kind == "missing":
        return HostEntry("missing")
    return HostEntry(
        kind,
        mode=_number(mode, 8),
        uid=_number(uid, 10),
        gid=_number(gid, 10),
        size=_number(size, 10),
        sha256=extra if kind == "file" and len(extra) == 64 else None,
        target=extra if kind == "symlink" else None,
    )


def _number(text: str, base: int) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


def parse_failures(output: bytes) -> list[int]:
    """The indices an undo script could not put back (its `fN` marks)."""
    records = output.split(b"\0")[1:]
    return [int(r[1:]) for r in records if r[:1] == b"f" and r[1:].isdigit()]
