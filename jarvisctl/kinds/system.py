"""System resources: disk, inodes, memory, swap, load."""

from __future__ import annotations

import os
import re
import shlex
from typing import Any, ClassVar, Literal

from jarvisctl.kinds.base import (
    CheckKind,
    CommandOutput,
    KindParams,
    ParseError,
    require_exit_zero,
)
from jarvisctl.models.values import Direction


def _psutil() -> Any:
    import psutil  # imported on first use: remote-only runs never pay for it

    return psutil


class PathParams(KindParams):
    path: str = "/"


def _df_percent(output: CommandOutput, what: str) -> float:
    require_exit_zero(output)
    lines = [line for line in output.stdout.splitlines() if line.strip()]
    if len(lines) < 2:
        raise ParseError(f"df printed no {what} line")
    match = re.search(r"\s(\d+)%\s", f" {lines[-1]} ")
    if match is None:
        raise ParseError(f"the filesystem reports no {what} percentage: {lines[-1].strip()!r}")
    return float(match[1])


class DiskUsage(CheckKind[PathParams]):
    name = "disk_usage"
    description = "Space used on the filesystem that holds a path, in percent."
    params_model = PathParams
    unit = "%"

    def command(self, params: PathParams) -> str:
        return f"df -P {shlex.quote(params.path)}"

    def parse(self, output: CommandOutput, params: PathParams) -> float:
        return _df_percent(output, "capacity")

    native = True

    def collect(self, params: PathParams) -> float:
        # df's Capacity: used / (used + available), rounded up to a whole percent
        stats = _statvfs(params.path)
        used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
        usable = used + stats.f_bavail * stats.f_frsize
        return float(-(-100 * used // usable)) if usable else 0.0


class InodeUsage(CheckKind[PathParams]):
    name = "inode_usage"
    description = "Inodes used on the filesystem that holds a path, in percent."
    params_model = PathParams
    unit = "%"

    def command(self, params: PathParams) -> str:
        return f"df -Pi {shlex.quote(params.path)}"

    def parse(self, output: CommandOutput, params: PathParams) -> float:
        return _df_percent(output, "inode")

    native = True

    def collect(self, params: PathParams) -> float:
        stats = _statvfs(params.path)
        if stats.f_files == 0:
            raise ParseError("the filesystem reports no inode percentage")
        used = stats.f_files - stats.f_ffree
        usable = used + stats.f_favail
        return float(-(-100 * used // usable)) if usable else 0.0


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


class MemoryAvailable(CheckKind[NoParams]):
    name = "memory_available"
    description = "Memory available for new work (MemAvailable), in percent of total."
    params_model = NoParams
    unit = "%"
    direction: ClassVar[Direction] = "below"

    def command(self, params: NoParams) -> str:
        return "cat /proc/meminfo"

    def parse(self, output: CommandOutput, params: NoParams) -> float:
        require_exit_zero(output)
        fields = parse_meminfo(output.stdout)
        total = _meminfo_field(fields, "MemTotal")
        if total <= 0:
            raise ParseError("MemTotal is 0")
        return round(100.0 * _meminfo_field(fields, "MemAvailable") / total, 2)

    native = True

    def collect(self, params: NoParams) -> float:
        memory = _psutil().virtual_memory()
        return round(100.0 * float(memory.available) / float(memory.total), 2)


class SwapUsed(CheckKind[NoParams]):
    name = "swap_used"
    description = "Swap in use, in percent of swap size (0 when there is no swap)."
    params_model = NoParams
    unit = "%"

    def command(self, params: NoParams) -> str:
        return "cat /proc/meminfo"

    def parse(self, output: CommandOutput, params: NoParams) -> float:
        require_exit_zero(output)
        fields = parse_meminfo(output.stdout)
        total = _meminfo_field(fields, "SwapTotal")
        if total == 0:
            return 0.0
        return round(100.0 * (total - _meminfo_field(fields, "SwapFree")) / total, 2)

    native = True

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
        return "cat /proc/loadavg && nproc"

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
