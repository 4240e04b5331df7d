"""System resources read from /proc: CPU usage over an interval, uptime, open file handles."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from jarvisctl.config.models.values import Direction, Duration
from jarvisctl.core.durations import format_seconds
from jarvisctl.kinds.base import (
    CheckKind,
    CommandOutput,
    KindParams,
    ParseError,
    first_line,
    require_exit_zero,
)


class CpuUsageParams(KindParams):
    interval: Duration = Field(default=1.0, ge=0.1, le=60)  # between the two samples


def parse_cpu_line(line: str) -> tuple[int, int]:
    """(total, idle) jiffies of a /proc/stat `cpu` line.

    guest and guest_nice are already counted in user and nice, so they are left out of the
    total (as the kernel's own accounting and psutil do); iowait counts as idle.
    """
    fields = line.split()
    if len(fields) < 5 or fields[0] != "cpu" or not all(f.isdigit() for f in fields[1:]):
        raise ParseError(f"not a /proc/stat cpu line: {line.strip()[:80]!r}")
    ticks = [int(f) for f in fields[1:9]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return sum(ticks), idle


def busy_percent(first: tuple[int, int], second: tuple[int, int]) -> float:
    """Share of CPU time not idle between two (total, idle) samples, in percent."""
    total = second[0] - first[0]
    idle = second[1] - first[1]
    if total <= 0:
        raise ParseError("no CPU time elapsed between the two /proc/stat samples")
    return round(100.0 * (total - idle) / total, 2)


class CpuUsage(CheckKind[CpuUsageParams]):
    name = "cpu_usage"
    description = (
        "CPU busy time in percent over all CPUs, from two reads of /proc/stat `interval` seconds "
        "apart (iowait counts as idle)."
    )
    params_model = CpuUsageParams
    unit = "%"

    def command(self, params: CpuUsageParams) -> str:
        pause = format_seconds(params.interval)
        stat = first_line("/proc/stat")  # its `cpu` line
        return f"{stat} && sleep {pause} && {stat}"

    def parse(self, output: CommandOutput, params: CpuUsageParams) -> float:
        require_exit_zero(output)
        lines = [line for line in output.stdout.splitlines() if line.strip()]
        if len(lines) != 2:
            raise ParseError(f"expected two /proc/stat cpu lines, got {len(lines)}")
        return busy_percent(parse_cpu_line(lines[0]), parse_cpu_line(lines[1]))


class NoParams(KindParams):
    pass


def parse_uptime(text: str) -> float:
    """Seconds since boot: the first field of /proc/uptime."""
    fields = text.split()
    try:
        seconds = float(fields[0])
    except (IndexError, ValueError):
        raise ParseError(f"unexpected /proc/uptime content: {text.strip()[:80]!r}") from None
    if seconds < 0:
        raise ParseError(f"negative uptime in /proc/uptime: {fields[0]!r}")
    return seconds


class Uptime(CheckKind[NoParams]):
    name = "uptime"
    description = "Seconds since the host booted; a small value means it rebooted recently."
    params_model = NoParams
    unit = "s"
    direction: ClassVar[Direction] = "below"

    def command(self, params: NoParams) -> str:
        return first_line("/proc/uptime")

    def parse(self, output: CommandOutput, params: NoParams) -> float:
        require_exit_zero(output)
        return parse_uptime(output.stdout)


def parse_file_nr(text: str) -> float:
    """Allocated file handles in percent of fs.file-max, from /proc/sys/fs/file-nr.

    The file holds `allocated unused max`; since Linux 2.6 `unused` is always 0, and it is the
    allocated count that the kernel compares with the maximum.
    """
    fields = text.split()
    if len(fields) != 3 or not all(f.isdigit() for f in fields):
        raise ParseError(f"unexpected /proc/sys/fs/file-nr content: {text.strip()[:80]!r}")
    allocated, maximum = int(fields[0]), int(fields[2])
    if maximum <= 0:
        raise ParseError("fs.file-max is 0")
    return round(100.0 * allocated / maximum, 4)


class OpenFiles(CheckKind[NoParams]):
    name = "open_files"
    description = "Allocated file handles in percent of the kernel's maximum (fs.file-max)."
    params_model = NoParams
    unit = "%"

    def command(self, params: NoParams) -> str:
        # not first_line: a sysctl file answers a read past its first byte with nothing, and
        # a shell's `read` takes one byte at a time (dash, BusyBox and bash all gave "1")
        return "cat /proc/sys/fs/file-nr"

    def parse(self, output: CommandOutput, params: NoParams) -> float:
        require_exit_zero(output)
        return parse_file_nr(output.stdout)
