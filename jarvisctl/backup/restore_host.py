"""The shell side of a restore: POSIX sh scripts that prepare, commit and undo on a host with
nothing but sh, coreutils (or busybox) and tar.

Every script is sent on the command's stdin (`sh` reads it from there), never as an argument:
a restore of many files would pass the kernel's 128 KiB limit on one argument. Each value in a
script is a single word quoted by shlex.quote, so a name with spaces, quotes, a newline or a
leading dash arrives as itself; every path is absolute, so none can be read as an option.
Output is NUL-separated: a newline in a name cannot split a record.

The functions each script starts with (besides restore_state.py's, which read the host):
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
- `l DIR ACT`: what an earlier restore whose controller was killed (SIGKILL: no undo ran) left
  in DIR: its temporary files are removed (ACT `remove`; `r` marks each removed, `n` each that
  could not be, `w` each that would be when ACT is `list`); the files it kept aside are only
  named (`k`): each may be the only copy of what the host had before that restore.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator

from jarvisctl.backup.restore_state import FUNCTIONS

# Each script's opening: stop at the first failure of a step that must not be skipped.
_FUNCTIONS = r"""
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

_TOKEN = "[0-9a-f]" * 8  # the restore's token (restore.py: secrets.token_hex(4))
_LEFTOVERS = rf"""
l() {{
  for f in "$1"/.jarvisctl-new-{_TOKEN}-[0-9]*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    if [ "$2" != remove ]; then printf 'w%s\000' "$f"
    elif rm -f -- "$f"; then printf 'r%s\000' "$f"
    else printf 'n%s\000' "$f"
    fi
  done
  for f in "$1"/.jarvisctl-old-{_TOKEN}-[0-9]*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    printf 'k%s\000' "$f"
  done
}}
"""

# The first field every script prints: whether it runs as root (owners can be set).
_WHO = "printf '%s\\000' \"$(id -u)\"\n"


def q(value: str) -> str:
    """`value` as one shell word outside quotes."""
    return shlex.quote(value)


def script(lines: Iterable[str]) -> Iterator[bytes]:
    """A script's bytes, a few hundred lines at a time: the functions, who runs it, `lines`."""
    yield (_FUNCTIONS + _LEFTOVERS + FUNCTIONS + _WHO).encode()
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


def runs_as(command: str, become: bool) -> str:
    """`command` as root when `become` and the login user is not root (sudo, no prompt)."""
    if not become:
        return command
    return f'if [ "$(id -u)" = 0 ]; then exec {command}; else exec sudo -n -- {command}; fi'


def parse_failures(output: bytes) -> list[int]:
    """The indices an undo script could not put back (its `fN` marks)."""
    records = output.split(b"\0")[1:]
    return [int(r[1:]) for r in records if r[:1] == b"f" and r[1:].isdigit()]


def leftover_lines(directories: Iterable[str], *, remove: bool) -> Iterator[str]:
    """`l` over each directory (`/` given as the empty word, so that no name starts `//`)."""
    act = "remove" if remove else "list"
    for directory in directories:
        yield f"l {q(directory.rstrip('/'))} {act}"


def parse_leftovers(output: bytes) -> list[tuple[str, str]]:
    """(mark, path) of each record an `l` printed: r removed, n not removable, w would be
    removed, k kept aside."""
    records = output.split(b"\0")[1:]
    return [
        (r[:1].decode(), r[1:].decode("utf-8", "surrogateescape"))
        for r in records
        if r[:1] in (b"r", b"n", b"w", b"k") and len(r) > 1
    ]
