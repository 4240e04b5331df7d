"""What an interrupted writer leaves on the controller, held while in use and swept after.

A partial snapshot file or a scratch directory is held, while its writer lives, by an exclusive
flock(2) on a descriptor of it. The kernel drops the lock when the writer's process dies,
SIGKILL included, so the next writer can tell a leftover (it gets the lock) from a file another
process is still writing (it does not), with no pid to outlive its process or be reused. Taking
the lock, a sweeper checks that the name still leads to the inode it locked, and a creator that
its new name still does: whichever comes second sees the other's work and steps back.

Every sweep is reported: a warning on the `jarvisctl.backup` logger (stderr when nothing else
is configured, the daemon's log in the daemon) naming what was removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

_LOG = logging.getLogger("jarvisctl.backup")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def hold(fd: int, path: Path) -> bool:
    """Lock the just-created `path`, open as `fd`; False when a sweeper removed it first (the
    caller makes another)."""
    fcntl.flock(fd, fcntl.LOCK_EX)  # a sweeper holding it is about to remove it: wait
    return _same(fd, path)


def sweep(
    directory: Path,
    matches: Callable[[str], bool],
    remove: Callable[[Path], None],
    what: str,
) -> list[Path]:
    """Remove each entry of `directory` whose name `matches` and that no live process holds;
    report each one removed (`what` says what it is) and return them."""
    try:
        names = sorted(n for n in os.listdir(directory) if matches(n))
    except OSError:  # no such directory yet: nothing left there
        return []
    removed = []
    for name in names:
        path = directory / name
        with _unheld(path) as free:
            if not free:
                continue
            try:
                remove(path)
            except OSError as exc:
                _LOG.warning(
                    "cannot remove %s left by an interrupted jarvisctl process: %s: %s",
                    what,
                    path,
                    exc.strerror or exc,
                )
                continue
        removed.append(path)
        _LOG.warning("removed %s left by an interrupted jarvisctl process: %s", what, path)
    return removed


@contextlib.contextmanager
def _unheld(path: Path) -> Iterator[bool]:
    """Whether `path` is held by no one (then locked by us until the block ends)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:  # gone already, or a symlink: not ours to remove
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False  # its writer is alive
            return
        yield _same(fd, path)
    finally:
        os.close(fd)


def _same(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)
