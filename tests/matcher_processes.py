"""The regex matcher processes of core/regex_search.py, as the tests watch them in /proc."""

from __future__ import annotations

import os
from pathlib import Path


def matcher_pids(parent: int | None = None) -> set[int]:
    """The live children of `parent` (default: this process) that run the matcher."""
    parent = os.getpid() if parent is None else parent
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == parent and fields[0] != "Z" and argv[1:4] == [b"-I", b"-S", b"-c"]:
            found.add(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """Whether `pid` has ended (a zombie has: this container's init may not reap)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
