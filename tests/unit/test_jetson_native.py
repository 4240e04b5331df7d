"""The Jetson kinds' native path: jtop when it answers, else the sysfs command with the reason."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli
from jarvisctl.kinds.base import NativeUnavailable
from jarvisctl.kinds.registry import load_registry
from tests.jetson_sysfs import build_orin_sysfs

KINDS = load_registry().checks


class FakeJtopException(Exception):
    pass


def fake_jtop(readings: dict[str, Any] | None, failure: str | None = None) -> types.ModuleType:
    """A stand-in for jetson-stats' `jtop` module with its documented attribute shapes."""

    class Jtop:
        def __enter__(self) -> Any:
            if failure:
                raise FakeJtopException(failure)
            return types.SimpleNamespace(ok=lambda: True, **(readings or {}))

        def __exit__(self, *_: object) -> None:
            return None

    module = types.ModuleType("jtop")
    module.jtop = Jtop  # type: ignore[attr-defined]
    module.JtopException = FakeJtopException  # type: ignore[attr-defined]
    return module


READINGS = {
    "temperature": {
        "cpu": {"online": True, "temp": 46.5},
        "gpu": {"online": True, "temp": 45.8},
        "cv0": {"online": False, "temp": -256.0},
    },
    "gpu": {"gpu": {"status": {"load": 12.5}}},
    "power": {
        "rail": {"VDD_IN": {"power": 4286}, "VDD_SOC": {"power": 1434}},
        "tot": {"power": 4286},
    },
}


@pytest.mark.parametrize(
    ("kind", "params", "value"),
    [
        ("jetson_temperature", {"zone": "GPU-therm"}, 45.8),
        ("jetson_gpu_load", {}, 12.5),
        ("jetson_power", {}, 4286.0),
        ("jetson_power", {"rail": "VDD_SOC"}, 1434.0),
    ],
)
def test_jtop_readings(
    monkeypatch: pytest.MonkeyPatch, kind: str, params: dict[str, Any], value: float
) -> None:
    monkeypatch.setitem(sys.modules, "jtop", fake_jtop(READINGS))
    check = KINDS[kind]
    assert check.native
    assert check.collect(check.params_model.model_validate(params)) == value


def test_jtop_service_down_is_a_reason_to_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    message = "The jtop.service is not active. Please run: sudo systemctl restart jtop.service"
    monkeypatch.setitem(sys.modules, "jtop", fake_jtop(None, failure=message))
    check = KINDS["jetson_gpu_load"]
    with pytest.raises(NativeUnavailable, match=r"jtop: The jtop\.service is not active"):
        check.collect(check.params_model())


def test_without_jetson_stats_the_local_run_reads_sysfs_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jtop", None)  # import fails as when it is not installed
    root = build_orin_sysfs(tmp_path / "board")
    (tmp_path / "p.yml").write_text(
        "- name: board\n  hosts: all\n  checks:\n"
        f"    - {{name: gpu temp, use: jetson_temperature, with: {{zone: gpu, root: '{root}'}}}}\n"
        "    - {name: gpu load, use: jetson_gpu_load}\n"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", "p.yml", "--json"])
    checks = {c["name"]: c for c in json.loads(result.stdout)["hosts"][0]["checks"]}
    assert checks["gpu temp"]["value"] == 45.812
    assert checks["gpu temp"]["source"] == (
        "command (native collector unavailable: a sysfs root is given: the command reads that tree)"
    )
    # this machine is no Jetson: the fallback command finds no GPU, and says so
    assert checks["gpu load"]["source"] == (
        "command (native collector unavailable: jetson-stats (jtop) is not installed)"
    )
    assert checks["gpu load"]["status"] == "unknown"
