"""Per-host and per-group thresholds through the inventory variable `thresholds`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli

INVENTORY = """\
all:
  children:
    jetsons:
      vars:
        thresholds:
          disk_usage: {warn: 70, crit: 80, clear: 65}
      hosts:
        j1: {}
        j2:
          thresholds:
            data disk: {warn: 85, crit: 95, clear: 80}
            memory_available: {warn: "< 20", for: 3}
"""
PLAYBOOK = """\
- name: p
  hosts: all
  checks:
    - {name: data disk, use: disk_usage, with: {path: /data}}
    - {use: memory_available}
"""


def plan(tmp_path: Path, inventory: str, *extra: str) -> tuple[int, str, str]:
    (tmp_path / "inv.yml").write_text(textwrap.dedent(inventory))
    (tmp_path / "p.yml").write_text(PLAYBOOK)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["plan", "p.yml", "-i", "inv.yml", *extra])
    return result.exit_code, result.stdout, result.stderr


def thresholds(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    hosts = document["playbooks"][0]["plays"][0]["hosts"]
    return {
        (h["host"], c["name"]): {**c["thresholds"], "for": c["for"]}
        for h in hosts
        for c in h["checks"]
    }


def test_group_and_host_overrides(tmp_path: Path) -> None:
    code, out, err = plan(tmp_path, INVENTORY, "--json")
    assert code == 0, err
    found = thresholds(json.loads(out))
    # j1: the group's override, matched by definition name
    assert found[("j1", "data disk")] == {"warn": "70", "crit": "80", "clear": "65", "for": 1}
    assert found[("j1", "memory_available")] == {"warn": "15", "crit": "5", "clear": "20", "for": 1}
    # j2: its own variable replaces the group's whole, matched by check name
    assert found[("j2", "data disk")] == {"warn": "85", "crit": "95", "clear": "80", "for": 1}
    assert found[("j2", "memory_available")] == {
        "warn": "< 20",
        "crit": "5",
        "clear": "20",
        "for": 3,
    }


def test_a_bad_override_is_located_in_the_inventory(tmp_path: Path) -> None:
    code, _, err = plan(tmp_path, INVENTORY.replace("warn: 85", "warn: lots"))
    assert code == 3
    assert (
        "error: inv.yml:10:11: variable 'thresholds': data disk.warn: invalid threshold 'lots'"
        in err
    )
    assert "(host j2)" in err


def test_an_override_that_contradicts_the_defaults_is_located_in_the_inventory(
    tmp_path: Path,
) -> None:
    code, _, err = plan(
        tmp_path, INVENTORY.replace("{warn: 70, crit: 80, clear: 65}", "{warn: 60}")
    )
    assert code == 3
    assert (
        "error: inv.yml:5:9: clear (default of 'disk_usage') 75 is past warn 60 "
        "(for this check higher is worse; thresholds from the variable 'thresholds') (host j1)"
    ) in err
