"""System resources: disk, inodes, memory, swap, load."""

from __future__ import annotations

import re
import shlex
from typing import ClassVar, Literal

from jarvisctl.kinds.base import (
    CheckKind,
    CommandOutput,
    KindParams,
    ParseError,
    require_exit_zero,
)
from jarvisctl.models.values import Direction


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


class InodeUsage(CheckKind[PathParams]):
    name = "inode_usage"
    description = "Inodes used on the filesystem that holds a path, in percent."
    params_model = PathParams
    unit = "%"

    def command(self, params: PathParams) -> str:
        return f"df -Pi {shlex.quote(params.path)}"

    def parse(self, output: CommandOutput, params: PathParams) -> float:
        return _df_percent(output, "inode")


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
