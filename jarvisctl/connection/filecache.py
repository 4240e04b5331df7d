"""A file's parsed form, kept for the process while the file is unchanged.

A fleet shares one known_hosts file and usually one identity file: parsing them once instead
of once per connection is most of what connecting costs the controller beyond paramiko itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class FileCache(Generic[T]):
    """`parse(path)`, parsed again only when the file's inode, mtime or size changed."""

    def __init__(self, parse: Callable[[Path], T]) -> None:
        self._parse = parse
        self._entries: dict[Path, tuple[tuple[int, int, int], T]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> T:
        """The parsed file; raises what `os.stat` or `parse` raise (nothing is cached then)."""
        info = os.stat(path)
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            cached = self._entries.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            parsed = self._parse(path)
            self._entries[path] = (stamp, parsed)
            return parsed
