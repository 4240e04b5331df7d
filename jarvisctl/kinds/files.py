"""Files and directories: age (backup freshness), size, existence."""

from __future__ import annotations

import shlex
from typing import ClassVar

from pydantic import Field

from jarvisctl.config.models.values import Direction
from jarvisctl.kinds.base import CheckKind, CommandOutput, KindParams, ParseError, require_exit_zero

# Printed instead of a measurement when the path is absent, so that "missing" is told apart from
# a failing command without reading locale-dependent error messages.
MISSING = "jarvisctl:missing"


class PathParams(KindParams):
    path: str = Field(min_length=1)


def _if_exists(path: str, then: str) -> str:
    quoted = shlex.quote(path)
    return f"if [ -e {quoted} ]; then {then}; else echo {MISSING}; fi"


def _lines(output: CommandOutput, path: str) -> list[str]:
    """The output's non-blank lines, after the checks every file kind shares."""
    if output.stdout.strip() == MISSING:
        raise ParseError(f"{path} does not exist")
    require_exit_zero(output)
    lines = [line.strip() for line in output.stdout.splitlines() if line.strip()]
    if not lines:
        raise ParseError("the command printed nothing")
    return lines


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParseError(f"{what} is not an integer: {text[:80]!r}") from None


def parse_file_age(lines: list[str]) -> float:
    """Seconds between a path's mtime (first line) and the host's clock (second line).

    A negative age (mtime in the host's future) is kept as it is: it shows clock trouble.
    """
    if len(lines) != 2:
        raise ParseError(f"expected the mtime and the current time, got {len(lines)} line(s)")
    return float(_integer(lines[1], "the current time") - _integer(lines[0], "the mtime"))


class FileAge(CheckKind[PathParams]):
    name = "file_age"
    description = (
        "Seconds since a file or directory was last modified, by the host's own clock "
        "(backup freshness); a missing path is UNKNOWN."
    )
    params_model = PathParams
    unit = "s"

    def command(self, params: PathParams) -> str:
        quoted = shlex.quote(params.path)
        return _if_exists(params.path, f"stat -c %Y -- {quoted} && date +%s")

    def parse(self, output: CommandOutput, params: PathParams) -> float:
        return parse_file_age(_lines(output, params.path))


def parse_du_kib(lines: list[str]) -> float:
    """Bytes from the last line of `du -sk`: `<KiB><tab><path>`."""
    size = lines[-1].split(maxsplit=1)[0]
    return float(_integer(size, "du's size") * 1024)


class PathSize(CheckKind[PathParams]):
    name = "path_size"
    description = (
        "Disk space used by a file or a directory tree, in bytes (`du -sk` x 1024, which "
        "coreutils and busybox both have); a missing path or an unreadable subtree is UNKNOWN."
    )
    params_model = PathParams
    unit = "B"

    def command(self, params: PathParams) -> str:
        return _if_exists(params.path, f"du -sk -- {shlex.quote(params.path)}")

    def parse(self, output: CommandOutput, params: PathParams) -> float:
        return parse_du_kib(_lines(output, params.path))


def parse_flag(text: str) -> float:
    """1 or 0 from a command that prints exactly one of them."""
    value = text.strip()
    if value not in ("0", "1"):
        raise ParseError(f"expected 1 or 0, got {value[:80]!r}")
    return float(value)


class PathExists(CheckKind[PathParams]):
    name = "path_exists"
    description = "1 when the path exists (`test -e`, following symlinks), else 0."
    params_model = PathParams
    direction: ClassVar[Direction] = "below"

    def command(self, params: PathParams) -> str:
        return f"if [ -e {shlex.quote(params.path)} ]; then echo 1; else echo 0; fi"

    def parse(self, output: CommandOutput, params: PathParams) -> float:
        require_exit_zero(output)
        return parse_flag(output.stdout)
