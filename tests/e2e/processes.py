"""Every process's command line on this machine, watched while something runs: the sshd test
hosts are local processes, so /proc here is the hosts' process list, which every user of a
host can read (what a secret must never be in)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def command_lines() -> list[str]:
    """Every process's command line, arguments joined by spaces."""
    lines = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                raw = Path(entry.path, "cmdline").read_bytes()
            except OSError:  # ended meanwhile
                continue
            lines.append(raw.replace(b"\0", b" ").decode(errors="replace").rstrip())
    return lines


@contextmanager
def watching_processes() -> Iterator[set[str]]:
    """The command lines seen, over and over, while the block runs (the set fills as it
    goes; read it after the block)."""
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(command_lines())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()
