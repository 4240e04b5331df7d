"""`jarvisctl backups` for people and for programs: the snapshot table, a snapshot's manifest,
and the JSON documents of both.

Names come from the hosts (a file may be called anything but NUL and '/' in each part): every
path, owner and target is shown escaped, so that a newline, a tab, a terminal escape or a byte
that is not UTF-8 can neither break a row nor drive the terminal, and a backslash is doubled, so
that the escaped spelling reads back to one name only.
"""

from __future__ import annotations

import stat
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from jarvisctl.store.snapshots import EntryType, ManifestEntry, Snapshot

DIGEST_SHOWN = 12  # hex digits of a sha256 in the manifest table
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_TYPE_LETTER = {
    EntryType.FILE: "-",
    EntryType.DIR: "d",
    EntryType.SYMLINK: "l",
    EntryType.HARDLINK: "h",
    EntryType.OTHER: "?",
}


def escaped(text: str) -> str:
    """`text` with every character that is not printable written as an escape: \\n, \\t, \\r,
    \\\\, a byte that was not UTF-8 (a surrogate escape) as \\xNN, others as \\uNNNN."""
    if text.isprintable() and "\\" not in text:  # most names: nothing to escape, at C speed
        return text
    return "".join(_escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte code - 0xDC00 as it was
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def size_text(count: int) -> str:
    """Bytes as people read them: 812 B, 4.0 KiB, 1.5 MiB, 2.0 GiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def age_text(seconds: float) -> str:
    """How long ago, in the largest unit that fits: 40s, 12m, 5h, 3d (never negative)."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def when_text(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, timezone.utc).isoformat()


def state_text(snapshot: Snapshot) -> str:
    state = str(snapshot.state.value)
    return state if not snapshot.problem else f"{state}: {escaped(snapshot.problem)}"


def snapshot_table(snapshots: Iterable[Snapshot], now: float) -> Iterator[str]:
    """One line per snapshot, newest first as given, under a header; the state (and why a
    snapshot is unusable) is last, so that a long reason does not push the columns apart."""
    rows = [_row(s, now) for s in snapshots]
    header = ("snapshot", "host", "backup", "taken (UTC)", "age", "files", "size", "stored")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    right = {4, 5, 6, 7}  # numbers are aligned on their right
    for cells in [(*header, "store", "state"), *rows]:
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells[: len(header)])
        ]
        yield "  ".join([*parts, *cells[len(header) :]]).rstrip()


def _row(s: Snapshot, now: float) -> tuple[str, ...]:
    return (
        escaped(s.id),
        escaped(s.host),
        escaped(s.backup),
        when_text(s.taken_at),
        age_text(now - s.taken_at),
        str(s.files),
        size_text(s.bytes),
        size_text(s.stored_bytes),
        escaped(s.store),
        state_text(s),
    )


def snapshot_summary(s: Snapshot, now: float) -> Iterator[str]:
    """What `backups show` prints above the manifest."""
    fields = (
        ("snapshot", escaped(s.id)),
        ("host", escaped(s.host)),
        ("backup", f"{escaped(s.backup)} (play {escaped(s.play)})"),
        (
            "taken",
            f"{when_text(s.taken_at)} UTC ({age_text(now - s.taken_at)} ago, {s.seconds:.1f}s)",
        ),
        ("source", s.source),
        ("files", f"{s.files}, {size_text(s.bytes)}"),
        ("store", f"{escaped(s.store)}: {escaped(s.location)}"),
        ("stored", f"{size_text(s.stored_bytes)}, compress {s.compress}"),
        ("state", state_text(s)),
        ("verified", when_text(s.verified_at) + (" UTC" if s.verified_at is not None else "")),
    )
    for key, value in fields:
        yield f"{key + ':':<10}{value}"


def manifest_lines(entries: Iterable[ManifestEntry]) -> Iterator[str]:
    """`ls -l`-like: type and mode, owner, size, mtime (UTC), the sha256's first digits, path
    (a link's `-> target`). Fixed widths, so that the table streams without reading ahead."""
    yield f"{'mode':<10}  {'owner':<17}  {'size':>12}  {'mtime (UTC)':<19}  {'sha256':<12}  path"
    for e in entries:
        digest = (e.sha256 or "-")[:DIGEST_SHOWN]
        owner = escaped(e.owner) or f"{e.uid}:{e.gid}"
        link = f" -> {escaped(e.target)}" if e.target is not None else ""
        yield (
            f"{mode_text(e):<10}  {owner:<17}  {e.size:>12}  {when_text(e.mtime):<19}  "
            f"{digest:<12}  {escaped(e.path)}{link}"
        )


def mode_text(entry: ManifestEntry) -> str:
    """The type letter and permission bits as `ls -l` writes them: drwxr-xr-x, -rw-------."""
    return _TYPE_LETTER.get(EntryType(entry.type), "?") + stat.filemode(entry.mode & 0o7777)[1:]


def snapshot_document(s: Snapshot) -> dict[str, Any]:
    """A snapshot in `backups list --json` and `backups show --json`."""
    return {
        "id": s.id,
        "host": s.host,
        "backup": s.backup,
        "play": s.play,
        "store": s.store,
        "location": s.location,
        "taken": iso(s.taken_at),
        "seconds": s.seconds,
        "source": s.source,
        "compress": s.compress,
        "files": s.files,
        "bytes": s.bytes,
        "stored_bytes": s.stored_bytes,
        "state": s.state.value,
        "verified": iso(s.verified_at),
        "problem": s.problem,
    }


def entry_document(e: ManifestEntry) -> dict[str, Any]:
    return {
        "path": e.path,
        "type": EntryType(e.type).value,
        "mode": f"{e.mode & 0o7777:04o}",
        "owner": e.owner,
        "uid": e.uid,
        "gid": e.gid,
        "size": e.size,
        "mtime": e.mtime,
        "sha256": e.sha256,
        "target": e.target,
    }
