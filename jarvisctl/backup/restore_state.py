"""Reading what a host has at many paths with POSIX sh, a few processes per 64 paths.

For each path: its type (never following a symlink at the path), mode, uid, gid, size, a
file's sha256 and a symlink's target. A fork per file per tool would cost minutes on a tree of
100,000 files, so paths go in batches: the shell's own tests give each one's type, then ONE
`stat -c` and ONE `sha256sum` (only over the regular files) read them all. Their output names
each file on a line, which is unambiguous only for names without a newline or a backslash
(GNU escapes those, busybox does not): such rare paths are read one by one by `s`, whose
fields are NUL-separated. Every path is absolute, so none can be taken for an option.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

BATCH = 64
_FIELDS = 6  # of one `s` record

# `s PATH`: one path, six NUL-terminated fields (type, mode, uid, gid, size, sha256/target).
# `b PATH...`: a batch of plain paths: their type letters (l d f o m) as one field, each
# symlink's target, then the output of one stat and one sha256sum, each as one field.
# `h PATH...`: sha256sum of the regular files among the paths (the others are dropped by
# rotating the arguments: POSIX sh has no arrays).
FUNCTIONS = r"""
s() {
  if [ -L "$1" ]; then t=$(readlink -- "$1"; echo x); set -- "$1" symlink "${t%?x}"
  elif [ -d "$1" ]; then set -- "$1" dir ""
  elif [ -f "$1" ]; then h=$(sha256sum < "$1") || h=x; set -- "$1" file "${h%% *}"
  elif [ -e "$1" ]; then set -- "$1" other ""
  else printf 'missing\000\000\000\000\000\000'; return 0; fi
  m=$(stat -c '%a %u %g %s' -- "$1") || m='x x x x'
  printf '%s\000' "$2" $m "$3"
}
b() {
  k=
  for p; do
    if [ -L "$p" ]; then k="${k}l"; elif [ -d "$p" ]; then k="${k}d"
    elif [ -f "$p" ]; then k="${k}f"; elif [ -e "$p" ]; then k="${k}o"; else k="${k}m"; fi
  done
  printf '%s\000' "$k"
  for p; do
    if [ -L "$p" ]; then t=$(readlink -- "$p"; echo x); printf '%s\000' "${t%?x}"; fi
  done
  printf '%s\000' "$(stat -c '%a %u %g %s %n' -- "$@" 2>/dev/null)"
  printf '%s\000' "$(h "$@" 2>/dev/null)"
}
h() {
  n=$#
  while [ "$n" -gt 0 ]; do
    p=$1; shift; n=$((n - 1))
    if [ -f "$p" ] && [ ! -L "$p" ]; then set -- "$@" "$p"; fi
  done
  if [ $# -gt 0 ]; then sha256sum -- "$@"; fi
}
"""

# The tools reading needs beyond sh itself: said plainly when one is missing, rather than every
# file reading as changed.
_NEEDS = (
    'for t in stat sha256sum readlink; do command -v "$t" >/dev/null || '
    '{ echo "$t is not on the host\'s PATH (coreutils or busybox has it)" >&2; exit 4; }; done'
)

_TYPES = {"l": "symlink", "d": "dir", "f": "file", "o": "other", "m": "missing"}


@dataclass(frozen=True, slots=True)
class HostEntry:
    """What one path is on the host now (`type` "missing": nothing there)."""

    type: str  # file, dir, symlink, other, missing
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    sha256: str | None = None  # a file's; None when it could not be read
    target: str | None = None  # a symlink's


_MISSING = HostEntry("missing")  # one value for every path with nothing there (frozen)


def plain(path: str) -> bool:
    """Whether stat and sha256sum print `path` on one line, as itself, on GNU and busybox."""
    return "\n" not in path and "\\" not in path and "\r" not in path


class StateQuery:
    """The script lines that read `paths`, and the parser of what they print."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        self._groups: list[list[int]] = []  # each a batch of plain paths, or one other path
        batch: list[int] = []
        for index, path in enumerate(self.paths):
            if not plain(path):
                self._groups.append([index])
                continue
            batch.append(index)
            if len(batch) == BATCH:
                self._groups.append(batch)
                batch = []
        if batch:
            self._groups.append(batch)

    def lines(self) -> Iterator[str]:
        yield _NEEDS
        for group in self._groups:
            names = " ".join(shlex.quote(self.paths[i]) for i in group)
            yield f"b {names}" if plain(self.paths[group[0]]) else f"s {names}"

    def parse(self, output: bytes) -> tuple[bool, list[HostEntry]]:
        """(whether the script ran as root, one HostEntry per path); ValueError when the
        output is not what these lines print."""
        fields = output.split(b"\0")
        if fields[-1] != b"":
            raise ValueError("the state output does not end with a NUL")
        texts = [f.decode("utf-8", "surrogateescape") for f in fields[:-1]]
        root = texts[0] == "0"
        entries: dict[int, HostEntry] = {}
        at = 1
        for group in self._groups:
            if plain(self.paths[group[0]]):
                at = self._batch(texts, at, group, entries)
            else:
                if len(texts) < at + _FIELDS:
                    raise ValueError("the state output ends inside a record")
                entries[group[0]] = _single(texts[at : at + _FIELDS])
                at += _FIELDS
        if at != len(texts):
            raise ValueError(f"{len(texts) - at} state fields left over")
        return root, [entries[index] for index in range(len(self.paths))]

    def _batch(
        self, texts: list[str], at: int, group: list[int], entries: dict[int, HostEntry]
    ) -> int:
        kinds = texts[at] if at < len(texts) else ""
        if len(kinds) != len(group) or set(kinds) - set(_TYPES):
            raise ValueError(f"a batch of {len(group)} paths got types {kinds[:80]!r}")
        links = kinds.count("l")
        if len(texts) < at + 3 + links:
            raise ValueError("the state output ends inside a batch")
        targets = iter(texts[at + 1 : at + 1 + links])
        stats = _by_name(texts[at + 1 + links], 4)
        digests = _by_name(texts[at + 2 + links], 1, separator="  ")
        for index, kind in zip(group, kinds, strict=True):
            path = self.paths[index]
            target = next(targets) if kind == "l" else None
            entries[index] = _entry(_TYPES[kind], stats.get(path), digests.get(path), target)
        return at + 3 + links


def _by_name(text: str, fields: int, *, separator: str = " ") -> dict[str, list[str]]:
    """Lines `F1 F2 ... NAME` keyed by NAME (which may hold the separator itself)."""
    found: dict[str, list[str]] = {}
    for line in text.split("\n"):
        parts = line.split(separator, fields)
        if len(parts) == fields + 1:
            found[parts[-1]] = parts[:-1]
    return found


def _entry(
    kind: str, stat: list[str] | None, digest: list[str] | None, target: str | None
) -> HostEntry:
    if kind == "missing":
        return _MISSING
    mode, uid, gid, size = stat if stat is not None else ["x"] * 4
    sha = digest[0] if digest is not None and len(digest[0]) == 64 else None
    return HostEntry(
        kind,
        mode=_number(mode, 8),
        uid=_number(uid, 10),
        gid=_number(gid, 10),
        size=_number(size, 10),
        sha256=sha if kind == "file" else None,
        target=target,
    )


def _single(fields: list[str]) -> HostEntry:
    kind, mode, uid, gid, size, extra = fields
    if kind not in _TYPES.values():
        raise ValueError(f"unknown type {kind[:40]!r} in the state output")
    extra_digest = [extra] if kind == "file" else None
    entry = _entry(kind, [mode, uid, gid, size], extra_digest, extra if kind == "symlink" else None)
    return entry


def _number(text: str, base: int) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None
