"""A fake Jetson sysfs tree under any directory, for running the Jetson kinds' real commands.

The layout follows JetPack 5/6 on a Jetson Orin Nano: thermal zones (with the CV zones offline,
as on boards whose DLA/PVA clusters are fused off), the GPU behind devfreq as 17000000.ga10b,
the INA3221 power monitor through hwmon, a PWM fan cooling device and six A78 cores' cpufreq.
`add_jetpack4_power` adds the older INA3221 iio layout (Jetson Nano, Xavier NX).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ORIN_TEMPERATURES: dict[str, int] = {  # type -> millidegrees C
    "cpu-thermal": 46500,
    "gpu-thermal": 45812,
    "cv0-thermal": -256000,
    "cv1-thermal": -256000,
    "cv2-thermal": -256000,
    "soc0-thermal": 44968,
    "soc1-thermal": 45125,
    "soc2-thermal": 44281,
    "tj-thermal": 46500,
}
ORIN_RAILS: dict[str, tuple[int, int]] = {  # label -> (mV, mA)
    "VDD_IN": (5072, 845),
    "VDD_CPU_GPU_CV": (5064, 94),
    "VDD_SOC": (5064, 283),
}
ORIN_COOLING: dict[str, int] = {"pwm-fan": 3}  # type -> cur_state: the fan spins, no throttle
ORIN_CPU_KHZ = (729600, 1510400)  # (scaling_cur_freq, cpuinfo_max_freq)


def _write(path: Path, text: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{text}\n")


def build_orin_sysfs(
    root: Path,
    *,
    temperatures: Mapping[str, int] = ORIN_TEMPERATURES,
    gpu_load: int = 125,
    rails: Mapping[str, tuple[int, int]] = ORIN_RAILS,
    cooling: Mapping[str, int] = ORIN_COOLING,
    cpus: int = 6,
) -> Path:
    """Lay out the tree under `root` (created if needed) and return `root`.

    `gpu_load` is per mille, as the kernel reports it.
    """
    thermal = root / "sys/devices/virtual/thermal"
    for index, (zone, millidegrees) in enumerate(temperatures.items()):
        _write(thermal / f"thermal_zone{index}/type", zone)
        _write(thermal / f"thermal_zone{index}/temp", millidegrees)
    for index, (kind, state) in enumerate(cooling.items()):
        _write(thermal / f"cooling_device{index}/type", kind)
        _write(thermal / f"cooling_device{index}/cur_state", state)
        _write(thermal / f"cooling_device{index}/max_state", 10)
    _gpu(root, gpu_load)
    _hwmon(root, rails)
    for cpu in range(cpus):
        freq = root / f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
        _write(freq / "scaling_cur_freq", ORIN_CPU_KHZ[0])
        _write(freq / "scaling_max_freq", ORIN_CPU_KHZ[1])
        _write(freq / "cpuinfo_max_freq", ORIN_CPU_KHZ[1])
        _write(freq / "scaling_governor", "schedutil")
    return root


def _gpu(root: Path, per_mille: int) -> None:
    # /sys/class/devfreq/17000000.ga10b -> the device's devfreq dir, whose `device` link leads
    # back to the GPU device holding `load`, as on JetPack 5.
    device = root / "sys/devices/platform/17000000.ga10b"
    _write(device / "load", per_mille)
    devfreq = device / "devfreq/17000000.ga10b"
    _write(devfreq / "cur_freq", 306000000)
    _write(devfreq / "max_freq", 624750000)
    (devfreq / "device").symlink_to("../..")
    link = root / "sys/class/devfreq/17000000.ga10b"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("../../devices/platform/17000000.ga10b/devfreq/17000000.ga10b")


def _hwmon(root: Path, rails: Mapping[str, tuple[int, int]]) -> None:
    hwmon = root / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1"
    _write(hwmon / "name", "ina3221")
    for channel, (label, (millivolts, milliamps)) in enumerate(rails.items(), start=1):
        _write(hwmon / f"in{channel}_label", label)
        _write(hwmon / f"in{channel}_input", millivolts)
        _write(hwmon / f"curr{channel}_input", milliamps)
        _write(hwmon / f"curr{channel}_max", 32760)
    # The driver's seventh input, the sum of the shunt voltages, has a label but no current.
    _write(hwmon / "in7_label", "sum of shunt voltages")
    _write(hwmon / "in7_input", 2640)


def add_jetpack4_power(root: Path, rails: Mapping[str, int]) -> Path:
    """The JetPack 4 INA3221 iio device, rails in mW (Jetson Nano: POM_5V_IN, _GPU, _CPU)."""
    iio = root / "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    for channel, (label, milliwatts) in enumerate(rails.items()):
        _write(iio / f"rail_name_{channel}", label)
        _write(iio / f"in_power{channel}_input", milliwatts)
    return root
