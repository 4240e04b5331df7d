"""`jarvisctl checks|remediations list|show`: the generated reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli
from jarvisctl.kinds.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str, cwd: Path = ROOT) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_every_kind_and_shipped_entry_has_a_line() -> None:
    code, out, _ = invoke("checks", "list", "--json")
    assert code == 0
    names = {r["name"] for r in json.loads(out)}
    shipped = {p.stem for p in (ROOT / "checks").glob("*.yml")}
    assert shipped | set(load_registry().checks) <= names


def test_show_gives_parameters_defaults_and_the_command() -> None:
    code, out, _ = invoke("checks", "show", "disk_usage")
    assert code == 0
    assert "unit: %   direction: above (higher is worse)" in out
    assert "defaults: warn 80, crit 90, clear 75" in out
    assert "path  str  default '/'" in out
    assert "$ df -P /" in out


def test_show_explains_a_command_that_needs_parameters() -> None:
    code, out, _ = invoke("remediations", "show", "restart_service")
    assert code == 0
    assert "unit  str  required" in out
    assert "the command depends on: unit" in out


def test_show_says_a_controller_side_kind_runs_nothing_on_the_host() -> None:
    code, out, _ = invoke("checks", "show", "backup_age")
    assert code == 0
    assert "backup  str  required" in out
    assert "runs: nothing on the host: measured on the controller" in out
    assert "the command depends on" not in out


def test_project_entries_override_and_are_listed_with_their_file(tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "disk_usage.yml").write_text(
        "name: disk_usage\nkind: disk_usage\ndefaults: {warn: 60, crit: 70}\n"
    )
    code, out, _ = invoke("checks", "show", "disk_usage", "--json", cwd=tmp_path)
    assert code == 0
    shown = json.loads(out)
    assert shown["source"] == "checks/disk_usage.yml"
    assert shown["defaults"] == {"warn": "60", "crit": "70"}


def test_unknown_name_is_a_usage_error() -> None:
    code, _, err = invoke("checks", "show", "disk_usag")
    assert code == 2
    assert "no check definition named 'disk_usag'" in err
