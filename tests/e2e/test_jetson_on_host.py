"""The Jetson kinds over SSH against a fake Orin sysfs tree placed on a test host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.jetson_sysfs import build_orin_sysfs

pytestmark = pytest.mark.e2e


def test_jetson_kinds_read_a_fake_board_over_ssh(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    board = build_orin_sysfs(tmp_path / "orin root", gpu_load=730, cooling={"gpu-balanced": 2})
    sshd_fleet.write_inventory(tmp_path / "inventory.yml")
    host = sshd_hosts[0].name
    checks = [
        ("gpu temp", "jetson_temperature", "zone: GPU-therm, "),
        ("cv temp", "jetson_temperature", "zone: cv0-thermal, "),
        ("gpu load", "jetson_gpu_load", ""),
        ("power", "jetson_power", ""),
        ("throttle", "jetson_throttling", ""),
    ]
    lines = [
        f"    - {{name: {name}, use: {kind}, with: {{{extra}root: '{{{{ board }}}}'}}}}"
        for name, kind, extra in checks
    ]
    head = f"- name: board\n  hosts: {host}\n  vars: {{board: '{board}'}}\n  checks:\n"
    (tmp_path / "play.yml").write_text(head + "\n".join(lines) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    document = json.loads(result.stdout)
    (run,) = document["hosts"]
    assert run["address"].startswith("ssh ")
    checks = {c["name"]: c for c in run["checks"]}
    assert checks["gpu temp"]["value"] == pytest.approx(45.812)
    assert checks["gpu temp"]["status"] == "ok"
    assert checks["cv temp"]["status"] == "unknown"
    assert "offline" in checks["cv temp"]["reason"]
    assert checks["gpu load"]["value"] == pytest.approx(73.0)
    assert checks["power"]["value"] == pytest.approx(5072 * 845 / 1000)
    assert checks["throttle"]["value"] == 1
    assert checks["throttle"]["status"] == "warning"
    assert all(c["source"] == "command" for c in checks.values())
    assert result.returncode == 1  # an UNKNOWN and a WARNING
