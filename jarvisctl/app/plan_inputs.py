"""What a project's plan is made from, as one digest: the daemon plans again only when it changes.

A fire re-reads its playbook, inventory and catalogue (the README promises it: an edit counts
at the next fire, without SIGHUP), but parsing and resolving them again when nothing changed is
the daemon's main waste. A plan reads the playbooks, the catalogue folders wherever they are
looked for (configured, beside the playbooks, in the project), the inventory with its
`group_vars/` and `host_vars/`. Their names, types and contents are hashed: the content, not
the mtime, as core.filecache does (an edit within the filesystem's timestamp granularity would
fool a mtime). Reading small files from the page cache costs microseconds; parsing them is
what costs.

Some inputs cannot be known without doing the work: an executable inventory script (its output
is the input), a template that calls `secret_file()` (it may read any file of the project), a
tree too large to walk. Then there is no digest, and the caller plans every time, as before.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from jarvisctl.config.configfile import MAX_CONFIG_BYTES
from jarvisctl.config.inventory.script import is_inventory_script
from jarvisctl.config.project import Project

MAX_ENTRIES = 10_000  # files and folders hashed at most; beyond, plan every time
CATALOGUES = ("checks", "remediations")
VOLATILE_CALL = b"secret_file"  # a template reading a file the digest does not know of


class _Volatile(Exception):
    """An input whose content the digest cannot tell."""


def plan_inputs(project: Project, playbooks: Sequence[Path]) -> str | None:
    """The digest of what planning `playbooks` (files, as the project lists them) reads; None
    when the plan must be made again each time."""
    digest = _Digest(project.state_dir)
    inventory = project.root / project.config.inventory
    try:
        for path in _plan_roots(project, playbooks):
            digest.add(path, scripts=False)
        for path in (inventory, inventory.parent / "group_vars", inventory.parent / "host_vars"):
            digest.add(path, scripts=True)
    except _Volatile:
        return None
    return digest.hexdigest()


def _plan_roots(project: Project, playbooks: Sequence[Path]) -> list[Path]:
    """The playbooks and every catalogue folder the planner looks in (plan.catalogue's
    search_dirs), present or not: a folder that appears changes the plan too."""
    roots = [*playbooks, *(project.root / entry for entry in project.config.playbooks)]
    config = project.config
    roots += [project.root / p for p in (*config.catalogue.checks, *config.catalogue.remediations)]
    for folder in sorted({path.resolve().parent for path in playbooks}):
        roots += [base / kind for base in (folder, folder.parent) for kind in CATALOGUES]
    roots += [project.root / kind for kind in CATALOGUES]
    return list(dict.fromkeys(roots))


class _Digest:
    def __init__(self, state_dir: Path) -> None:
        self._hash = hashlib.sha256()
        self._skip = {_real(state_dir)}  # the runs' own records change at every run
        self._seen: set[str] = set()
        self._entries = 0

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def add(self, path: Path, *, scripts: bool) -> None:
        """`path` and, for a folder, everything under it (links followed once)."""
        self._entries += 1
        if self._entries > MAX_ENTRIES:
            raise _Volatile(path)
        self._hash.update(os.fsencode(path) + b"\0")
        try:
            info = os.stat(path)
        except OSError as exc:  # absent, or unreadable: the planner says what is wrong
            self._hash.update(f"error {exc.errno}\0".encode())
            return
        if stat.S_ISDIR(info.st_mode):
            self._folder(path, scripts)
        elif stat.S_ISREG(info.st_mode):
            self._file(path, info, scripts)
        else:  # a FIFO must not be opened (it would block): its type is what counts
            self._hash.update(f"mode {stat.S_IFMT(info.st_mode)}\0".encode())

    def _folder(self, path: Path, scripts: bool) -> None:
        real = _real(path)
        if real in self._skip or real in self._seen:
            self._hash.update(b"seen\0")
            return
        self._seen.add(real)
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            self._hash.update(f"error {exc.errno}\0".encode())
            return
        self._hash.update(b"folder\0")
        for name in names:
            self.add(path / name, scripts=scripts)

    def _file(self, path: Path, info: os.stat_result, scripts: bool) -> None:
        if scripts and is_inventory_script(path):
            raise _Volatile(path)
        if info.st_size > MAX_CONFIG_BYTES:  # refused by the reader: its size says enough
            self._hash.update(f"size {info.st_size} {info.st_mtime_ns}\0".encode())
            return
        try:  # non-blocking: a FIFO put there since the stat must not hang the daemon
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                content = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            self._hash.update(f"error {exc.errno}\0".encode())
            return
        if VOLATILE_CALL in content:
            raise _Volatile(path)
        self._hash.update(hashlib.sha256(content).digest())


def _real(path: Path) -> str:
    return os.path.realpath(path)
