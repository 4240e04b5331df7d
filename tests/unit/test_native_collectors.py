"""On this machine, native collectors (psutil, os) and shell commands agree within tolerances.

Tolerances: disk and inode percentages are whole percents computed the way df does, so they
must be equal (±1 when the filesystem changes between the two readings); memory available ±2
percentage points and swap used ±1 (memory moves between readings); load per core ±0.5 (the
load average can move between two reads).
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from jarvisctl.kinds.base import CommandOutput
from jarvisctl.kinds.registry import load_registry

REGISTRY = load_registry()

CASES = [
    ("disk_usage", {"path": "/"}, 1.0),
    ("disk_usage", {"path": "/tmp"}, 1.0),
    ("inode_usage", {"path": "/"}, 1.0),
    ("memory_available", {}, 2.0),
    ("swap_used", {}, 1.0),
    ("load_per_core", {"period": 1}, 0.5),
]


def shell_value(kind: Any, params: Any) -> float:
    done = subprocess.run(["sh", "-c", kind.command(params)], capture_output=True, text=True)
    return float(kind.parse(CommandOutput(done.stdout, done.stderr, done.returncode), params))


@pytest.mark.parametrize(("name", "given", "tolerance"), CASES)
def test_native_and_shell_agree(name: str, given: dict[str, Any], tolerance: float) -> None:
    kind = REGISTRY.checks[name]
    params = kind.params_model.model_validate(given)
    assert kind.native
    assert kind.collect(params) == pytest.approx(shell_value(kind, params), abs=tolerance)


def test_every_native_kind_is_covered() -> None:
    covered = {name for name, _, _ in CASES}
    native = {name for name, kind in REGISTRY.checks.items() if kind.native}
    # the Jetson kinds' native path (jtop) is tested in test_jetson_native.py
    assert {name for name in native if not name.startswith("jetson_")} <= covered
