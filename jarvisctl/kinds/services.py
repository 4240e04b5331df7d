"""Services and processes: systemd units, failed units, processes, clock synchronisation."""

from __future__ import annotations

import re
import shlex
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from jarvisctl.config.models.values import Direction
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import CheckKind, CommandOutput, KindParams, ParseError, Reading
from jarvisctl.kinds.exits import check_exit, error_tail

_SYSTEMD = {"systemctl": "systemd"}
_PROCPS = {"pgrep": "procps", "ps": "procps"}


class UnitParams(KindParams):
    unit: str = Field(min_length=1)

    @field_validator("unit")
    @classmethod
    def _not_an_option(cls, value: str) -> str:
        if value.startswith("-"):
            raise ValueError(f"invalid unit name {value!r} (it must not start with '-')")
        return value


# `systemctl is-active` prints one of these; it exits 0 for the first two only.
_UP_STATES = frozenset({"active", "reloading", "refreshing"})
_UNIT_STATES = _UP_STATES | {
    "inactive",
    "failed",
    "activating",
    "deactivating",
    "maintenance",
    "unknown",
}


def parse_unit_state(output: CommandOutput) -> str:
    check_exit(output, _SYSTEMD, ok=range(0, 5))  # is-active: 3 = not active, 4 = no such unit
    state = output.stdout.strip().splitlines()[:1]
    if not state or state[0] not in _UNIT_STATES:
        said = error_tail(output) or "no output"
        raise ParseError(f"systemctl is-active gave no unit state: {said}")
    return state[0]


class SystemdUnit(CheckKind[UnitParams]):
    name = "systemd_unit"
    description = (
        "1 when a systemd unit is active (or reloading), else 0 (inactive, failed, activating "
        "while it restarts...); needs systemctl."
    )
    params_model = UnitParams
    direction: ClassVar[Direction] = "below"

    def command(self, params: UnitParams) -> str:
        return f"systemctl is-active {shlex.quote(params.unit)}"

    def parse(self, output: CommandOutput, params: UnitParams) -> float:
        return self.read(output, params).value or 0.0

    def read(self, output: CommandOutput, params: UnitParams) -> Reading:
        state = parse_unit_state(output)
        return Reading(1.0 if state in _UP_STATES else 0.0, summary=f"{params.unit} is {state}")


class NoParams(KindParams):
    pass


def parse_failed_units(output: CommandOutput) -> tuple[str, ...]:
    """Unit names from `systemctl list-units --state=failed --no-legend --plain`."""
    check_exit(output, _SYSTEMD)
    names: list[str] = []
    for line in output.stdout.splitlines():
        fields = line.replace("\u25cf", " ").split()  # older systemd marks failed units with ●
        if not fields:
            continue
        if len(fields) < 4 or fields[2] != "failed":
            raise ParseError(f"unexpected line from systemctl list-units: {line.strip()[:120]!r}")
        names.append(fields[0])
    return tuple(names)


class SystemdFailedUnits(CheckKind[NoParams]):
    name = "systemd_failed_units"
    description = "Number of systemd units in the failed state; needs systemctl."
    params_model = NoParams

    def command(self, params: NoParams) -> str:
        return "systemctl list-units --state=failed --no-legend --plain --no-pager"

    def parse(self, output: CommandOutput, params: NoParams) -> float:
        return float(len(parse_failed_units(output)))

    def read(self, output: CommandOutput, params: NoParams) -> Reading:
        names = parse_failed_units(output)
        return Reading(float(len(names)), summary=", ".join(names))


class ProcessParams(KindParams):
    match: str = Field(min_length=1)  # an extended regular expression, as `pgrep -f` takes it
    measure: Literal["count", "rss", "cpu"] = "count"


@frozen
class ProcessRow:
    pid: int
    rss_kib: int
    cpu_percent: float


_PGREP_HEADER = re.compile(r"^@@pgrep (\d+) (\d+) (\d+)$", re.MULTILINE)


def parse_processes(output: CommandOutput) -> tuple[ProcessRow, ...]:
    """The processes pgrep matched, less the shell (and its `timeout`) that ran the check: their
    command lines hold the pattern too."""
    header = _PGREP_HEADER.search(output.stdout)
    if header is None:
        check_exit(output, _PROCPS)
        raise ParseError("no pgrep status line in the output")
    pgrep_code, ours = int(header[1]), {int(header[2]), int(header[3])}
    if pgrep_code == 127:
        raise ParseError("pgrep is not installed on the host (package procps): exit 127")
    if pgrep_code not in (0, 1):
        raise ParseError(f"pgrep exited {pgrep_code}: {error_tail(output) or 'no message'}")
    check_exit(output, _PROCPS, ok=(0, 1))  # ps -p exits 1 when every process has gone
    rows: list[ProcessRow] = []
    for line in output.stdout[header.end() :].splitlines():
        fields = line.split()
        if not fields:
            continue
        try:
            pid, _ppid, rss, cpu = int(fields[0]), int(fields[1]), int(fields[2]), float(fields[3])
        except (ValueError, IndexError):
            raise ParseError(f"unexpected line from ps: {line.strip()[:120]!r}") from None
        if pid not in ours:
            rows.append(ProcessRow(pid, rss, cpu))
    return tuple(rows)


class Process(CheckKind[ProcessParams]):
    name = "process"
    description = (
        "Processes whose command line matches a pattern (pgrep -f): their count, total resident "
        "memory in MiB, or total %CPU as ps reports it (CPU time over each process's lifetime); "
        "needs procps."
    )
    params_model = ProcessParams
    direction: ClassVar[Direction] = "below"

    def command(self, params: ProcessParams) -> str:
        return (
            f"pids=$(pgrep -d, -f -- {shlex.quote(params.match)}); "
            'echo "@@pgrep $? $$ $PPID"; '
            '[ -z "$pids" ] || ps -o pid=,ppid=,rss=,pcpu= -p "$pids"'
        )

    def parse(self, output: CommandOutput, params: ProcessParams) -> float:
        rows = parse_processes(output)
        if params.measure == "count":
            return float(len(rows))
        if params.measure == "rss":
            return round(sum(row.rss_kib for row in rows) / 1024, 2)
        return round(sum(row.cpu_percent for row in rows), 2)

    def read(self, output: CommandOutput, params: ProcessParams) -> Reading:
        pids = ", ".join(str(row.pid) for row in parse_processes(output)[:10])
        return Reading(self.parse(output, params), summary=f"pids {pids}" if pids else "none")


_CLOCK_COMMAND = (
    "if command -v chronyc >/dev/null 2>&1; then "
    "out=$(chronyc -n tracking 2>&1) && { printf '@@clock chronyc\\n%s\\n' \"$out\"; exit 0; }; "
    "printf 'chronyc: %s\\n' \"$out\" >&2; fi; "
    "if command -v timedatectl >/dev/null 2>&1; then "
    "echo '@@clock timedatectl'; exec timedatectl timesync-status; fi; "
    "echo '@@clock none'; exit 127"
)
_CHRONY_SYSTEM_TIME = re.compile(
    r"^System time\s*:\s*([\d.]+) seconds (fast|slow) of NTP time", re.MULTILINE
)
_CHRONY_LEAP = re.compile(r"^Leap status\s*:\s*(.+?)\s*$", re.MULTILINE)
_TIMESYNC_OFFSET = re.compile(r"^\s*Offset:\s*([+-]?)(.+?)\s*$", re.MULTILINE)
_TIMESPAN_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(us|\u00b5s|ms|s|min|h|d)(?![a-z])")
_TIMESPAN_SECONDS = {
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}


def parse_chrony_offset(text: str) -> float:
    """Seconds the host clock is ahead of NTP time (negative when behind), `chronyc tracking`."""
    leap = _CHRONY_LEAP.search(text)
    if leap is not None and leap[1].lower().startswith("not synchronised"):
        raise ParseError("chrony is not synchronised (Leap status: Not synchronised)")
    found = _CHRONY_SYSTEM_TIME.search(text)
    if found is None:
        raise ParseError("chronyc tracking printed no 'System time' line")
    return float(found[1]) * (1 if found[2] == "fast" else -1)


def parse_timespan(text: str) -> float:
    """Seconds in a systemd time span such as `236us`, `1.234ms` or `1min 2.5s`."""
    parts = _TIMESPAN_PART.findall(text)
    if not parts or _TIMESPAN_PART.sub("", text).strip():
        raise ParseError(f"not a time span: {text!r}")
    return sum(float(number) * _TIMESPAN_SECONDS[unit] for number, unit in parts)


def parse_timesync_offset(text: str) -> float:
    """Seconds the host clock is ahead of NTP time, from the offset systemd-timesyncd measured
    at its last exchange (`timedatectl timesync-status`). timesyncd's offset is NTP's theta,
    server minus client, so its sign is the opposite of chrony's "fast"."""
    found = _TIMESYNC_OFFSET.search(text)
    if found is None:
        raise ParseError("systemd-timesyncd has measured no offset yet (not synchronised)")
    return parse_timespan(found[2]) * (1 if found[1] == "-" else -1)


class ClockOffset(CheckKind[NoParams]):
    name = "clock_offset"
    description = (
        "How far the host clock is from its time source, in seconds (absolute): from chronyc "
        "tracking when chronyd answers, else timedatectl timesync-status (systemd-timesyncd)."
    )
    params_model = NoParams
    unit = "s"

    def command(self, params: NoParams) -> str:
        return _CLOCK_COMMAND

    def parse(self, output: CommandOutput, params: NoParams) -> float:
        value = self.read(output, params).value
        return 0.0 if value is None else value

    def read(self, output: CommandOutput, params: NoParams) -> Reading:
        source, _, text = output.stdout.partition("\n")
        if source == "@@clock none":
            tried = f" ({error_tail(output)})" if output.stderr.strip() else ""
            raise ParseError(
                "neither chronyc (package chrony) nor timedatectl (systemd-timesyncd) is "
                f"installed{tried}"
            )
        if source == "@@clock chronyc":
            offset, via = parse_chrony_offset(text), "chrony"
        elif source == "@@clock timedatectl":
            _timedatectl_ok(output)
            offset, via = parse_timesync_offset(text), "systemd-timesyncd"
        else:
            check_exit(output, {"chronyc": "chrony", "timedatectl": "systemd"})
            raise ParseError("no time source line in the output")
        side = "ahead of" if offset > 0 else "behind"
        return Reading(round(abs(offset), 6), summary=f"{abs(offset):g}s {side} {via}")


def _timedatectl_ok(output: CommandOutput) -> None:
    """timedatectl failed: say so, with why chronyc was not used when it was tried first."""
    try:
        check_exit(output, {"timedatectl": "systemd"})
    except ParseError as exc:
        chrony = [line for line in output.stderr.splitlines() if line.startswith("chronyc: ")]
        raise ParseError(f"timedatectl: {exc}" + (f"; {chrony[0]}" if chrony else "")) from None
