"""System resources: disk, inodes, memory, swap, load."""

from __future__ import annotations

import os
import re
import shlex
from abc import abstractmethod
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from jarvisctl.config.models.values import Direction, NonEmptyText
from jarvisctl.kinds.base import (
    CheckKind,
    CommandOutput,
    KindParams,
    ParseError,
    first_line,
    require_exit_zero,
)


def _psutil() -> Any:
    import psutil  # imported on first use: remote-only runs never pay for it

    return psutil


class PathParams(KindParams):
    path: NonEmptyText = "/"  # "" would make df fail on every run

    @field_validator("path")
    @classmethod
    def _not_an_option(cls, value: str) -> str:
        # `df -P -x` would read the path as one of df's options
        if value.startswith("-"):
            raise ValueError(f"path {value!r} may not start with '-' (write ./{value})")
        return value


def _df_percent(output: CommandOutput, what: str) -> float:
    require_exit_zero(output)
    lines = [line for line in output.stdout.splitlines() if line.strip()]
    if len(lines) < 2:
        raise ParseError(f"df printed no {what} line")
    match = re.search(r"\s(\d+)%\s", f" {lines[-1]} ")
    if match is None:
        raise ParseError(f"the filesystem reports no {what} percentage: {lines[-1].strip()!r}")
    return float(match[1])


class _DfPercent(CheckKind[PathParams]):
    """A percentage df reports for the filesystem holding a path; natively from statvfs,
    computed as df does: used / (used + available to unprivileged users), rounded up."""

    params_model = PathParams
    unit = "%"
    native = True
    df_flags: ClassVar[str]
    what: ClassVar[str]

    def command(self, params: PathParams) -> str:
        return f"df {self.df_flags} {shlex.quote(params.path)}"

    def parse(self, output: CommandOutput, params: PathParams) -> float:
        return _df_percent(output, self.what)

    def collect(self, params: PathParams) -> float:
        used, available = self.counts(_statvfs(params.path))
        usable = used + available
        return float(-(-100 * used // usable)) if usable else 0.0

    @abstractmethod
    def counts(self, stats: os.statvfs_result) -> tuple[int, int]:
        """(used, available) in the same unit."""


class DiskUsage(_DfPercent):
    name = "disk_usage"
    description = "Space used on the filesystem that holds a path, in percent."
    df_flags = "-P"
    what = "capacity"

    def counts(self, stats: os.statvfs_result) -> tuple[int, int]:
        used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
        return used, stats.f_bavail * stats.f_frsize


class InodeUsage(_DfPercent):
    name = "inode_usage"
    description = "Inodes used on the filesystem that holds a path, in percent."
    df_flags = "-Pi"
    what = "inode"

    def counts(self, stats: os.statvfs_result) -> tuple[int, int]:
        if stats.f_files == 0:
            raise ParseError("the filesystem reports no inode percentage")
        return stats.f_files - stats.f_ffree, stats.f_favail


def _statvfs(path: str) -> os.statvfs_result:
    try:
        return os.statvfs(path)
    except OSError as exc:
        raise ParseError(f"cannot stat {path}: {exc.strerror}") from None


class NoParams(KindParams):
    pass


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as kB values by field name."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name.strip()] = int(parts[0])
    return fields


def _meminfo_field(fields: dict[str, int], name: str) -> int:
    if name not in fields:
        raise ParseError(f"/proc/meminfo has no {name} line")
    return fields[name]


class _Meminfo(CheckKind[NoParams]):
    """A percentage computed from /proc/meminfo (natively from psutil)."""

    params_model = NoParams
    unit = "%"
    native = True

    def command(self, params: NoParams) -> str:
        return "cat /proc/meminfo"

    def parse(self, output: CommandOutput, params: NoParams) -> float:
        require_exit_zero(output)
        return self.percent(parse_meminfo(output.stdout))

    @abstractmethod
    def percent(self, fields: dict[str, int]) -> float: ...


class MemoryAvailable(_Meminfo):
    name = "memory_available"
    description = "Memory available for new work (MemAvailable), in percent of total."
    direction: ClassVar[Direction] = "below"

    def percent(self, fields: dict[str, int]) -> float:
        total = _meminfo_field(fields, "MemTotal")
        if total <= 0:
            raise ParseError("MemTotal is 0")
        return round(100.0 * _meminfo_field(fields, "MemAvailable") / total, 2)

    def collect(self, params: NoParams) -> float:
        memory = _psutil().virtual_memory()
        return round(100.0 * float(memory.available) / float(memory.total), 2)


class SwapUsed(_Meminfo):
    name = "swap_used"
    description = "Swap in use, in percent of swap size (0 when there is no swap)."

    def percent(self, fields: dict[str, int]) -> float:
        total = _meminfo_field(fields, "SwapTotal")
        if total == 0:
            return 0.0
        return round(100.0 * (total - _meminfo_field(fields, "SwapFree")) / total, 2)

    def collect(self, params: NoParams) -> float:
        swap = _psutil().swap_memory()
        return round(100.0 * float(swap.used) / float(swap.total), 2) if swap.total else 0.0


class LoadParams(KindParams):
    period: Literal[1, 5, 15] = 5


class LoadPerCore(CheckKind[LoadParams]):
    name = "load_per_core"
    description = "Load average over 1, 5 or 15 minutes divided by the number of online CPUs."
    params_model = LoadParams
    unit = ""

    def command(self, params: LoadParams) -> str:
        return f"{first_line('/proc/loadavg')} && nproc"

    def parse(self, output: CommandOutput, params: LoadParams) -> float:
        require_exit_zero(output)
        lines = output.stdout.split("\n")
        try:
            loads = lines[0].split()
            cores = int(lines[1].strip())
            load = float(loads[{1: 0, 5: 1, 15: 2}[params.period]])
        except (IndexError, ValueError):
            raise ParseError(f"unexpected loadavg/nproc output: {output.stdout[:80]!r}") from None
        if cores <= 0:
            raise ParseError("nproc reported no CPUs")
        return round(load / cores, 3)

    native = True

    def collect(self, params: LoadParams) -> float:
        load = os.getloadavg()[{1: 0, 5: 1, 15: 2}[params.period]]
        return round(load / len(os.sched_getaffinity(0)), 3)
