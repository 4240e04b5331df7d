"""The one way configuration files are read: bounded, never blocking, every refusal located.

Playbooks, inventories, variable files, catalogue entries and `jarvisctl.yml` are read here. A
file that is not a regular file (a FIFO would block forever, `/dev/zero` never ends, a directory
or socket cannot be read), that is larger than `MAX_CONFIG_BYTES`, that cannot be opened
(a dangling symlink, a symlink loop, no permission) or that is not UTF-8 is a `ConfigError` at
the file (and at the line and column of the first byte that is not UTF-8), so that every
command exits 3 with a message instead of hanging, exhausting memory or printing a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import weakref
from pathlib import Path

from jarvisctl.core.errors import ConfigError, Location

MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_CONFIG_SIZE = "4 MiB"  # as the messages name it
_CHUNK = 1024 * 1024

# What to call a file of each type that is not a regular file.
_FILE_TYPES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)

STDIN = Path("-")  # `-` where a file is read means standard input (`plan -`, `run -i - ...`)
STDIN_NAME = "<stdin>"  # how messages name it
# Standard input can be read once, but a command may read a file more than once (a playbook is
# parsed, then hashed for the journal): what was read is kept with the stream it came from, for
# as long as that stream lives. Process-wide like the stream itself (a test runner gives each
# command it invokes a stream of its own, and so a fresh read).
_STDIN_READ: weakref.WeakKeyDictionary[object, bytes] = weakref.WeakKeyDictionary()

_EXPECTED = "expected a regular file"
_PERMISSION = ("permission denied", "make it readable by the user running jarvisctl")
# errno -> (what went wrong, what would be valid)
_OPEN_FAILURES = {
    errno.EACCES: _PERMISSION,
    errno.EPERM: _PERMISSION,
    errno.ELOOP: ("too many levels of symbolic links", "a symlink loop? point it at a file"),
    errno.ENAMETOOLONG: ("the path is too long", ""),
    errno.ENOTDIR: ("a part of the path is not a directory", ""),
    errno.ENXIO: ("no such device or address", "a socket or a device cannot be read"),
}


def display_path(path: Path) -> str:
    """A path as the operator would type it: relative to the working directory when inside it.

    The last part is not resolved: a symlink is named as itself, not as what it points to.
    """
    if path == STDIN:
        return STDIN_NAME
    try:
        return str((path.parent.resolve() / path.name).relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
        return str(path)


def read_config_bytes(path: Path, what: str = "file", hint: str = "") -> bytes:
    """The content of a regular file of at most MAX_CONFIG_BYTES; anything else is refused.

    `what` names the file in messages ("inventory file not found"); `hint` is added to the
    message for a directory (say which file inside it is meant).
    """
    if path == STDIN:
        return _stdin_bytes()
    # stat before open: opening a device can have effects of its own (a watchdog, a tape).
    _require_regular(_stat(path, what), path, what, hint)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _open_error(exc, path, what) from None
    try:
        # the path may have been replaced between stat and open: judge what was opened
        _require_regular(os.fstat(fd), path, what, hint)
        return _read_bounded(fd, path)
    finally:
        os.close(fd)


def read_config_text(path: Path, what: str = "file", hint: str = "") -> str:
    """`read_config_bytes` decoded as UTF-8 (a byte-order mark is dropped)."""
    content = read_config_bytes(path, what, hint)
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError.at(
            _byte_location(display_path(path), content, exc.start),
            f"not UTF-8 text (byte 0x{content[exc.start]:02x})",
            "configuration files are UTF-8",
        ) from None


def config_exists(path: Path) -> bool:
    """Whether anything is at `path`, a dangling symlink included, so that the reader, not a
    silent skip, says what is wrong with it."""
    return path == STDIN or os.path.lexists(path)


def is_config_dir(path: Path) -> bool:
    """Whether `path` is a directory; one that cannot be looked at is not (the reader then
    says why it cannot be read), where Path.is_dir would raise PermissionError."""
    if path == STDIN:
        return False
    try:
        return path.is_dir()
    except OSError:
        return False


def list_config_dir(directory: Path, what: str = "directory") -> list[Path]:
    """The entries of a directory, sorted by name; a directory that cannot be listed is refused."""
    try:
        return sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise _open_error(exc, directory, what) from None


def _stdin_bytes() -> bytes:
    """Standard input to its end (at most MAX_CONFIG_BYTES), read once per stream."""
    where = Location(STDIN_NAME)
    stream = sys.stdin
    if stream is None or stream.closed:
        raise ConfigError.at(where, "cannot read: there is no standard input", "pipe the file in")
    source = getattr(stream, "buffer", stream)
    content = _STDIN_READ.get(source)
    if content is None:
        try:
            read = source.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError.at(where, f"cannot read: {exc.strerror or exc}") from None
        content = read.encode("utf-8") if isinstance(read, str) else read
        if len(content) > MAX_CONFIG_BYTES:
            raise _too_large(where)
        _STDIN_READ[source] = content
    return content


def _stat(path: Path, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise _open_error(exc, path, what) from None


def _located(path: Path) -> Location:
    """Where a refusal of `path` is: made only to say so (resolving the path for its display
    costs more than reading a small file, and most files are read without a refusal)."""
    return Location(display_path(path))


def _require_regular(info: os.stat_result, path: Path, what: str, hint: str) -> None:
    if stat.S_ISREG(info.st_mode):
        if info.st_size > MAX_CONFIG_BYTES:
            raise _too_large(_located(path))
        return
    kind = next((name for test, name in _FILE_TYPES if test(info.st_mode)), "not a regular file")
    directory = stat.S_ISDIR(info.st_mode)
    raise ConfigError.at(_located(path), f"is {kind}", hint if directory and hint else _EXPECTED)


def _read_bounded(fd: int, path: Path) -> bytes:
    """Read to the end, but never more than the limit (a file may grow while it is read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_CONFIG_BYTES:
            raise _too_large(_located(path))
        chunks.append(chunk)


def _too_large(where: Location) -> ConfigError:
    return ConfigError.at(
        where,
        f"is larger than {MAX_CONFIG_SIZE}, the limit for a configuration file",
        "split it, or use host ranges and group_vars",
    )


def _open_error(exc: OSError, path: Path, what: str) -> ConfigError:
    where = _located(path)
    if exc.errno == errno.ENOENT:
        if os.path.islink(path):
            target = os.readlink(path)
            return ConfigError.at(where, f"cannot read: a dangling symbolic link to {target!r}")
        return ConfigError.at(where, f"{what} not found")
    reason, hint = _OPEN_FAILURES.get(exc.errno or 0, (exc.strerror or type(exc).__name__, ""))
    return ConfigError.at(where, f"cannot read: {reason.lower()}", hint)


def _byte_location(name: str, content: bytes, offset: int) -> Location:
    """The line and column (in characters) of byte `offset`."""
    line_start = content.rfind(b"\n", 0, offset) + 1
    column = len(content[line_start:offset].decode("utf-8", errors="replace")) + 1
    return Location(name, content.count(b"\n", 0, offset) + 1, column)
