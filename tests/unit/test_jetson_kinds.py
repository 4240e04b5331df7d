"""The Jetson kinds' real commands, run by a local sh against a fake sysfs tree, then parsed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from jarvisctl.kinds.base import CommandOutput, ParseError
from jarvisctl.kinds.registry import load_registry
from tests.jetson_sysfs import ORIN_COOLING, add_jetpack4_power, build_orin_sysfs

REGISTRY = load_registry()
JETSON_KINDS = ("jetson_temperature", "jetson_gpu_load", "jetson_power", "jetson_throttling")
# dash (Debian's sh), and busybox ash as on small boards (scripts/test installs busybox: where
# it is missing, those cases skip, and say so)
SHELLS = [["sh", "-c"], ["busybox", "sh", "-c"]]


@pytest.fixture(params=SHELLS, ids=lambda shell: shell[0])
def shell(request: pytest.FixtureRequest) -> list[str]:
    if shutil.which(request.param[0]) is None:
        pytest.skip(f"{request.param[0]} is not installed (Debian package busybox)")
    return list(request.param)


@pytest.fixture
def orin(tmp_path: Path) -> Path:
    # a space and a quote in the root prove that the prefix is quoted
    return build_orin_sysfs(tmp_path / "fake o'sys root")


def run(
    shell: list[str], kind_name: str, params: dict[str, Any], env: dict[str, str] | None = None
) -> float:
    kind = REGISTRY.checks[kind_name]
    checked = kind.params_model.model_validate(params)
    done = subprocess.run(
        [*shell, kind.command(checked)], capture_output=True, text=True, timeout=20, env=env
    )
    return kind.parse(CommandOutput(done.stdout, done.stderr, done.returncode), checked)


@pytest.mark.parametrize(
    ("zone", "celsius"),
    [("gpu-thermal", 45.812), ("GPU-therm", 45.812), ("tj", 46.5), ("soc1-thermal", 45.125)],
)
def test_temperature_of_a_zone(shell: list[str], orin: Path, zone: str, celsius: float) -> None:
    assert run(shell, "jetson_temperature", {"zone": zone, "root": str(orin)}) == celsius


def test_offline_zone_is_a_reason_not_a_value(shell: list[str], orin: Path) -> None:
    with pytest.raises(ParseError, match="cv0-thermal: sensor offline"):
        run(shell, "jetson_temperature", {"zone": "cv0-thermal", "root": str(orin)})


def test_unknown_zone_names_the_zones_found(shell: list[str], orin: Path) -> None:
    with pytest.raises(ParseError, match=r"no thermal zone of type 'GPU-therm2' \(found: cpu-"):
        run(shell, "jetson_temperature", {"zone": "GPU-therm2", "root": str(orin)})


@pytest.mark.parametrize(("per_mille", "percent"), [(125, 12.5), (0, 0.0), (1000, 100.0)])
def test_gpu_load_through_devfreq(
    shell: list[str], tmp_path: Path, per_mille: int, percent: float
) -> None:
    root = build_orin_sysfs(tmp_path / "orin", gpu_load=per_mille)
    assert run(shell, "jetson_gpu_load", {"root": str(root)}) == percent


def test_gpu_load_prefers_the_jetpack4_gpu0_file(shell: list[str], orin: Path) -> None:
    (orin / "sys/devices/gpu.0").mkdir(parents=True)
    (orin / "sys/devices/gpu.0/load").write_text("994\n")
    assert run(shell, "jetson_gpu_load", {"root": str(orin)}) == 99.4


def test_power_from_hwmon_is_the_input_rail(shell: list[str], orin: Path) -> None:
    assert run(shell, "jetson_power", {"root": str(orin)}) == pytest.approx(5072 * 845 / 1000)


def test_power_of_one_named_rail(shell: list[str], orin: Path) -> None:
    params = {"root": str(orin), "rail": "VDD_SOC"}
    assert run(shell, "jetson_power", params) == pytest.approx(5064 * 283 / 1000)


def test_power_from_the_jetpack4_iio_device(shell: list[str], tmp_path: Path) -> None:
    root = add_jetpack4_power(tmp_path, {"POM_5V_IN": 2479, "POM_5V_GPU": 0, "POM_5V_CPU": 361})
    assert run(shell, "jetson_power", {"root": str(root)}) == 2479


def test_power_from_tegrastats_stops_after_one_line(shell: list[str], tmp_path: Path) -> None:
    # a fake tegrastats that, like the real one, prints a line per interval and never stops
    fake = tmp_path / "bin/tegrastats"
    fake.parent.mkdir()
    line = "RAM 2448/7620MB (lfb 2x4MB) SWAP 0/3810MB VDD_IN 4286mW/4286mW VDD_SOC 1434mW/1434mW"
    fake.write_text(f"#!/bin/sh\nwhile :; do echo '{line}'; sleep 0.2; done\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    started = time.monotonic()
    assert run(shell, "jetson_power", {"source": "tegrastats"}, env) == 4286
    assert time.monotonic() - started < 4  # head ended it, not the 5 s timeout


def test_throttling_ignores_a_spinning_fan(shell: list[str], orin: Path) -> None:
    assert run(shell, "jetson_throttling", {"root": str(orin)}) == 0


def test_throttling_when_a_cpufreq_cooling_device_is_engaged(
    shell: list[str], tmp_path: Path
) -> None:
    root = build_orin_sysfs(tmp_path / "hot", cooling={**ORIN_COOLING, "cpufreq-cpu0": 2})
    assert run(shell, "jetson_throttling", {"root": str(root)}) == 1


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("jetson_temperature", "no thermal zones under /sys/devices/virtual/thermal"),
        ("jetson_gpu_load", "no GPU load file found (looked for /sys/devices/gpu.0/load"),
        ("jetson_power", "no INA3221 power monitor found"),
        ("jetson_throttling", "no thermal cooling devices"),
    ],
)
def test_not_a_jetson_gives_a_reason(
    shell: list[str], tmp_path: Path, kind: str, reason: str
) -> None:
    params = {"root": str(tmp_path)} | ({"zone": "gpu"} if kind == "jetson_temperature" else {})
    with pytest.raises(ParseError) as err:
        run(shell, kind, params)
    assert reason in str(err.value)


@pytest.mark.parametrize("kind", JETSON_KINDS)
def test_root_must_be_absolute(kind: str) -> None:
    params = {"root": "fake/sys"} | ({"zone": "gpu"} if kind == "jetson_temperature" else {})
    with pytest.raises(ValidationError, match="root must be empty or an absolute path"):
        REGISTRY.checks[kind].params_model.model_validate(params)


def test_root_does_not_apply_to_tegrastats() -> None:
    with pytest.raises(ValidationError, match="root applies to source: sysfs only"):
        REGISTRY.checks["jetson_power"].params_model.model_validate(
            {"source": "tegrastats", "root": "/tmp/fake"}
        )


def test_default_root_reads_the_real_sys() -> None:
    kind = REGISTRY.checks["jetson_gpu_load"]
    command = kind.command(kind.params_model.model_validate({}))
    assert command.startswith("r=''; ") and '"$r"/sys/devices/gpu.0/load' in command
