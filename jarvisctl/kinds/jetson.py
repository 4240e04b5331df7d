"""NVIDIA Jetson: thermal zones, GPU load, power draw and thermal throttling, from sysfs.

Every kind takes a `root` prefix (default "", the real /) so that tests can point it at a fake
sysfs tree. The commands print raw sysfs values tab-separated; the pure `parse_*` functions
below turn them into numbers; what the native (jetson-stats) collector shares with them is in
jetson_readings.
"""

from __future__ import annotations

import re
import shlex
from typing import Literal

from pydantic import field_validator, model_validator

from jarvisctl.config.models.values import NonEmptyText
from jarvisctl.kinds.base import CheckKind, CommandOutput, KindParams, ParseError, require_exit_zero
from jarvisctl.kinds.jetson_readings import input_power, zone_key

OFFLINE_MILLIDEGREES = -256000  # what an offline Tegra thermal sensor reads
GPU_LOAD_FILES = (
    "/sys/devices/gpu.0/load",
    "/sys/devices/platform/gpu.0/load",
    "/sys/class/devfreq/*.gpu/device/load",
    "/sys/class/devfreq/*.ga10b/device/load",
    "/sys/class/devfreq/*.gv11b/device/load",
    "/sys/class/devfreq/*.gp10b/device/load",
)
THERMAL = "/sys/devices/virtual/thermal"
INA3221 = "/sys/bus/i2c/drivers/ina3221*/*"


class JetsonParams(KindParams):
    root: str = ""  # prefix of /sys: "" is the host's own; a directory for a fake tree

    @field_validator("root")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError(f"root must be empty or an absolute path, got {value!r}")
        return value.rstrip("/")


def _with_root(params: JetsonParams, script: str) -> str:
    return f"r={shlex.quote(params.root)}; {script}"


def _tab_rows(output: CommandOutput, nothing: str) -> list[list[str]]:
    require_exit_zero(output)
    rows = [line.split("\t") for line in output.stdout.splitlines() if line.strip()]
    if not rows:
        raise ParseError(nothing)
    return rows


def _integer(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ParseError(f"{what} is not an integer: {text.strip()[:80]!r}") from None


# ---------------------------------------------------------------- temperature


def parse_zone_temperature(zones: list[tuple[str, str]], wanted: str) -> float:
    """Degrees Celsius of the zone whose type is `wanted` (exactly, else ignoring case/suffix)."""
    exact = [raw for name, raw in zones if name == wanted]
    loose = [raw for name, raw in zones if zone_key(name) == zone_key(wanted)]
    found = exact or loose
    if not found:
        names = ", ".join(name for name, _ in zones)
        raise ParseError(f"no thermal zone of type {wanted!r} (found: {names})")
    raw = found[0].strip()
    if not raw:
        raise ParseError(f"thermal zone {wanted}: temperature unreadable (sensor offline?)")
    millidegrees = _integer(raw, f"thermal zone {wanted}'s temperature")
    if millidegrees == OFFLINE_MILLIDEGREES:
        raise ParseError(f"thermal zone {wanted}: sensor offline (reads {OFFLINE_MILLIDEGREES})")
    return millidegrees / 1000.0


class ZoneParams(JetsonParams):
    # a thermal zone type: GPU-therm (Nano, Xavier), gpu-thermal (Orin), or just gpu
    zone: NonEmptyText


class JetsonTemperature(CheckKind[ZoneParams]):
    name = "jetson_temperature"
    description = (
        "Temperature of one thermal zone, in °C, found by its type in "
        "/sys/devices/virtual/thermal/thermal_zone*/type (exact, else ignoring case and the "
        "-therm/-thermal suffix, so 'gpu' matches GPU-therm and gpu-thermal); an offline "
        "sensor (-256000) is UNKNOWN."
    )
    params_model = ZoneParams
    unit = "°C"

    def command(self, params: ZoneParams) -> str:
        return _with_root(
            params,
            f'for z in "$r"{THERMAL}/thermal_zone*; do [ -r "$z/type" ] || continue; '
            'printf \'%s\\t%s\\n\' "$(cat "$z/type")" "$(cat "$z/temp" 2>/dev/null)"; done',
        )

    native = True

    def collect(self, params: ZoneParams) -> float:
        from jarvisctl.kinds import jetson_native

        return jetson_native.read_jtop(jetson_native.temperature(params.zone), params.root)

    def parse(self, output: CommandOutput, params: ZoneParams) -> float:
        rows = _tab_rows(output, f"no thermal zones under {THERMAL}")
        zones = [(row[0].strip(), row[1] if len(row) > 1 else "") for row in rows]
        return parse_zone_temperature(zones, params.zone)


# ---------------------------------------------------------------- GPU load


def parse_gpu_load(per_mille: str) -> float:
    """Percent from the GPU's `load` file, which counts in tenths of a percent (0..1000)."""
    value = _integer(per_mille, "the GPU load")
    if not 0 <= value <= 1000:
        raise ParseError(f"GPU load {value} is outside 0..1000 (per mille)")
    return value / 10.0


class JetsonGpuLoad(CheckKind[JetsonParams]):
    name = "jetson_gpu_load"
    description = (
        "Integrated GPU load in percent, from the first readable of "
        + ", ".join(GPU_LOAD_FILES)
        + " (per mille)."
    )
    params_model = JetsonParams
    unit = "%"

    def command(self, params: JetsonParams) -> str:
        candidates = " ".join(f'"$r"{path}' for path in GPU_LOAD_FILES)
        return _with_root(
            params,
            f'for f in {candidates}; do if [ -r "$f" ]; then '
            'printf \'%s\\t%s\\n\' "${f#"$r"}" "$(cat "$f")"; break; fi; done',
        )

    native = True

    def collect(self, params: JetsonParams) -> float:
        from jarvisctl.kinds import jetson_native

        return jetson_native.read_jtop(jetson_native.gpu_load, params.root)

    def parse(self, output: CommandOutput, params: JetsonParams) -> float:
        looked = ", ".join(GPU_LOAD_FILES)
        rows = _tab_rows(output, f"no GPU load file found (looked for {looked})")
        if len(rows[0]) != 2:
            raise ParseError(f"unexpected output: {output.stdout.strip()[:80]!r}")
        return parse_gpu_load(rows[0][1])


# ---------------------------------------------------------------- power


def parse_sysfs_rails(rows: list[list[str]]) -> dict[str, float]:
    """Milliwatts per INA3221 rail from `hwmon<TAB>label<TAB>mV<TAB>mA` (JetPack 5+) and
    `iio<TAB>label<TAB>mW` (JetPack 4) rows; unconnected (NC) channels are left out.

    An empty reading is an error, not a missing rail: dropping VDD_IN would silently turn
    the total into the sum of the other rails.
    """
    rails: dict[str, float] = {}
    for row in rows:
        label, values = row[1].strip() if len(row) > 1 else "", [c.strip() for c in row[2:]]
        if label == "NC":
            continue
        shape = {"hwmon": 2, "iio": 1}.get(row[0])
        if not label or len(values) != shape:
            raise ParseError(f"unexpected power rail line: {chr(9).join(row)[:80]!r}")
        if "" in values:
            raise ParseError(f"power rail {label}: no reading")
        numbers = [_integer(value, f"power rail {label}'s reading") for value in values]
        rails[label] = numbers[0] * numbers[1] / 1000.0 if shape == 2 else float(numbers[0])
    return rails


_TEGRASTATS_RAIL = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")


def parse_tegrastats_rails(line: str) -> dict[str, float]:
    """Milliwatts now per rail of one tegrastats line: `VDD_IN 4286mW/4286mW` (JetPack 5+),
    `POM_5V_IN 2479/2479` (JetPack 4). RAM/SWAP `used/totalMB` pairs do not match."""
    return {m[1]: float(m[2]) for m in _TEGRASTATS_RAIL.finditer(line)}


class PowerParams(JetsonParams):
    source: Literal["sysfs", "tegrastats"] = "sysfs"
    rail: str = ""  # "" is the board's total input; or a rail name such as VDD_CPU_GPU_CV

    @model_validator(mode="after")
    def _root_for_sysfs(self) -> PowerParams:
        if self.root and self.source == "tegrastats":
            raise ValueError("root applies to source: sysfs only (tegrastats reads the real one)")
        return self


class JetsonPower(CheckKind[PowerParams]):
    name = "jetson_power"
    description = (
        "Power draw in mW: the module input rail (VDD_IN, or POM_5V_IN on JetPack 4), else the "
        "sum of all rails (AGX boards), or the rail named by `rail`; read from the INA3221 "
        "monitors in sysfs (hwmon in*_input x curr*_input, or iio in_power*_input) or from one "
        "tegrastats sample (source: tegrastats)."
    )
    params_model = PowerParams
    unit = "mW"

    def command(self, params: PowerParams) -> str:
        if params.source == "tegrastats":
            # tegrastats never stops by itself: head takes the first line; timeout bounds the
            # wait should tegrastats neither print nor die of SIGPIPE.
            return "timeout 5 tegrastats --interval 1000 | head -n 1"
        hwmon = (
            'for l in "$d"/in*_label; do [ -r "$l" ] || continue; n=${l##*/in}; n=${n%_label}; '
            # the driver's "sum of shunt voltages" input has a label but no current: not a rail
            '[ -e "$d/curr${n}_input" ] || continue; '
            'printf \'hwmon\\t%s\\t%s\\t%s\\n\' "$(cat "$l")" '
            '"$(cat "$d/in${n}_input" 2>/dev/null)" "$(cat "$d/curr${n}_input" 2>/dev/null)"; '
            "done"
        )
        iio = (
            'for l in "$d"/rail_name_*; do [ -r "$l" ] || continue; n=${l##*_}; '
            'printf \'iio\\t%s\\t%s\\n\' "$(cat "$l")" '
            '"$(cat "$d/in_power${n}_input" 2>/dev/null)"; '
            "done"
        )
        dirs = f'"$r"{INA3221}/hwmon/hwmon* "$r"{INA3221}/iio:device*'
        return _with_root(params, f"for d in {dirs}; do {hwmon}; {iio}; done")

    native = True

    def collect(self, params: PowerParams) -> float:
        from jarvisctl.kinds import jetson_native

        return jetson_native.read_jtop(jetson_native.power(params.rail), params.root)

    def parse(self, output: CommandOutput, params: PowerParams) -> float:
        if params.source == "tegrastats":
            require_exit_zero(output)
            line = output.stdout.strip()
            if not line:
                why = (output.stderr.strip().splitlines() or [""])[-1][:200]
                raise ParseError(f"tegrastats printed no line{': ' + why if why else ''}")
            return input_power(parse_tegrastats_rails(line), params.rail)
        rows = _tab_rows(output, "no INA3221 power monitor found under /sys/bus/i2c/drivers")
        return input_power(parse_sysfs_rails(rows), params.rail)


# ---------------------------------------------------------------- throttling


def is_fan(cooling_type: str) -> bool:
    return "fan" in cooling_type.lower()


def parse_throttling(devices: list[tuple[str, str]]) -> float:
    """1 when a cooling device other than a fan has cur_state > 0, else 0.

    `devices` are (type, cur_state) pairs of /sys/devices/virtual/thermal/cooling_device*.
    """
    throttling = False
    for kind, state in devices:
        if is_fan(kind):
            continue
        throttling |= _integer(state, f"cooling device {kind}'s cur_state") > 0
    return 1.0 if throttling else 0.0


class JetsonThrottling(CheckKind[JetsonParams]):
    name = "jetson_throttling"
    description = (
        "1 when the kernel's thermal framework is throttling: a cooling device other than a fan "
        "(a cpufreq, devfreq or Tegra 'balanced' throttle on CPU, GPU or memory clocks) reports "
        "cur_state > 0 in /sys/devices/virtual/thermal/cooling_device*; else 0. Clock caps set "
        "on purpose (nvpmodel power modes) and idle clock scaling are not throttling, and "
        "hardware throttling that Linux does not expose (BPMP/SOCTHERM) is not seen."
    )
    params_model = JetsonParams

    def command(self, params: JetsonParams) -> str:
        return _with_root(
            params,
            f'for c in "$r"{THERMAL}/cooling_device*; do [ -r "$c/type" ] || continue; '
            'printf \'%s\\t%s\\n\' "$(cat "$c/type")" "$(cat "$c/cur_state" 2>/dev/null)"; done',
        )

    def parse(self, output: CommandOutput, params: JetsonParams) -> float:
        rows = _tab_rows(output, f"no thermal cooling devices under {THERMAL}")
        return parse_throttling([(row[0], row[1] if len(row) > 1 else "") for row in rows])
