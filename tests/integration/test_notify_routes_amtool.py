"""Alertmanager itself agrees: every route tree and case of tests/unit/test_notify_routing.py,
given to the real `amtool config routes test` (Debian's prometheus-alertmanager, installed by
scripts/test), names the same receivers in the same order as jarvisctl's route matching."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.test_notify_routing import CASES, TREES, _receiver_names

AMTOOL = shutil.which("amtool")
pytestmark = pytest.mark.skipif(
    AMTOOL is None,
    reason="amtool missing (Debian prometheus-alertmanager; scripts/test installs it)",
)


def alertmanager_config(tmp_path: Path, name: str) -> Path:
    tree = yaml.safe_load(TREES[name])
    names = sorted(set(_receiver_names(TREES[name])))
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump({**tree, "receivers": [{"name": n} for n in names]}))
    return path


@pytest.mark.parametrize(("tree", "labels", "expected"), CASES)
def test_amtool_routes_each_case_as_jarvisctl_does(
    tmp_path: Path, tree: str, labels: dict[str, str], expected: list[str]
) -> None:
    assert AMTOOL is not None
    config = alertmanager_config(tmp_path, tree)
    done = subprocess.run(
        [AMTOOL, "config", "routes", "test", f"--config.file={config}"]
        + [f"{name}={value}" for name, value in labels.items()],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split(",") == expected
