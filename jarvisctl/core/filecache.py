"""A file's parsed form, kept for the process while the file is unchanged.

A fleet shares one known_hosts file and usually one identity file: parsing them once instead
of once per connection is most of what connecting costs the controller beyond paramiko itself.
The daemon plans every cycle: its catalogue files are read again only when they change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class FileCache(Generic[T]):
    """`parse(path)`, parsed again only when the file's content changed.

    The content itself is compared, not the inode, mtime and size: an edit that keeps the size
    within the filesystem's timestamp granularity would fool those. Reading a small file from
    the page cache costs microseconds; parsing it is what costs.
    """

    def __init__(
        self, parse: Callable[[Path], T], read: Callable[[Path], bytes] = Path.read_bytes
    ) -> None:
        self._parse = parse
        self._read = read  # configuration files: jarvisctl.config.configfile's bounded reader
        self._entries: dict[Path, tuple[bytes, T]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> T:
        """The parsed file; raises what reading or `parse` raise (nothing is cached then)."""
        content = self._read(path)
        with self._lock:
            cached = self._entries.get(path)
            if cached is not None and cached[0] == content:
                return cached[1]
            parsed = self._parse(path)
            self._entries[path] = (content, parsed)
            return parsed
