"""Each kind's parse, from captured output: tests/cases/<kind>/<case>.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jarvisctl.kinds.base import CommandOutput, ParseError
from jarvisctl.kinds.registry import load_registry

CASES = Path(__file__).parent.parent / "cases"
REGISTRY = load_registry()


def _cases() -> list[Any]:
    return [
        pytest.param(path, id=f"{path.parent.name}/{path.stem}")
        for path in sorted(CASES.glob("*/*.yml"))
    ]


@pytest.mark.parametrize("path", _cases())
def test_parse(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    kind = REGISTRY.checks[path.parent.name]
    params = kind.params_model.model_validate(case["params"])
    output = CommandOutput(case["stdout"], case.get("stderr", ""), case.get("exit_code", 0))
    if "error" in case:
        with pytest.raises(ParseError) as err:
            kind.parse(output, params)
        assert case["error"] in str(err.value)
    else:
        assert kind.parse(output, params) == pytest.approx(case["value"], abs=0.01)


def test_every_kind_has_cases() -> None:
    covered = {p.name for p in CASES.iterdir() if p.is_dir()}
    assert set(REGISTRY.checks) <= covered


@pytest.mark.parametrize(
    ("kind", "params", "command"),
    [
        ("disk_usage", {"path": "/my data"}, "df -P '/my data'"),
        ("inode_usage", {}, "df -Pi /"),
        ("memory_available", {}, "cat /proc/meminfo"),
        (
            "load_per_core",
            {"period": 15},
            '{ IFS= read -r _l || [ -n "$_l" ]; } </proc/loadavg'
            " && printf '%s\\n' \"$_l\" && nproc",
        ),
        ("command", {"command": "echo 1"}, "echo 1"),
    ],
)
def test_commands(kind: str, params: dict[str, Any], command: str) -> None:
    check = REGISTRY.checks[kind]
    assert check.command(check.params_model.model_validate(params)) == command


@pytest.mark.parametrize(
    ("kind", "params", "commands"),
    [
        ("restart_service", {"unit": "nginx"}, ("systemctl restart nginx",)),
        ("reload_service", {"unit": "a b"}, ("systemctl reload-or-restart 'a b'",)),
        (
            "vacuum_journal",
            {"max_size": "200M", "max_age": "2d"},
            ("journalctl --vacuum-size=200M --vacuum-time=172800s",),
        ),
        ("run", {"commands": ["sync", "true"]}, ("sync", "true")),
    ],
)
def test_remediation_commands(kind: str, params: dict[str, Any], commands: tuple[str, ...]) -> None:
    remedy = REGISTRY.remediations[kind]
    assert remedy.commands(remedy.params_model.model_validate(params)) == commands
