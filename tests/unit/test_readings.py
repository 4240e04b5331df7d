"""What kinds read beyond the value: their own status, summary and perfdata (`Reading`).

The same data cases as test_kinds.py; a case may also say `status`, `summary` and `perfdata`
(a list of [label, value] pairs), which `read` must give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jarvisctl.core.results import Status
from jarvisctl.kinds.base import CommandOutput, ParseError, Reading
from jarvisctl.kinds.command import compile_json_path, parse_perfdata, split_plugin_output
from jarvisctl.kinds.registry import load_registry

CASES = Path(__file__).parent.parent / "cases"
REGISTRY = load_registry()


def _read(path: Path) -> tuple[dict[str, Any], Reading]:
    case = yaml.safe_load(path.read_text())
    kind = REGISTRY.checks[path.parent.name]
    params = kind.params_model.model_validate(case["params"])
    output = CommandOutput(case["stdout"], case.get("stderr", ""), case.get("exit_code", 0))
    return case, kind.read(output, params)


def _cases_with_readings() -> list[Any]:
    found = []
    for path in sorted(CASES.glob("*/*.yml")):
        case = yaml.safe_load(path.read_text())
        if {"status", "summary", "perfdata"} & set(case):
            found.append(pytest.param(path, id=f"{path.parent.name}/{path.stem}"))
    return found


@pytest.mark.parametrize("path", _cases_with_readings())
def test_reading(path: Path) -> None:
    case, reading = _read(path)
    if "status" in case:
        assert reading.status is Status(case["status"])
    if "summary" in case:
        assert reading.summary == case["summary"]
    if "perfdata" in case:
        assert [[p.label, p.value] for p in reading.perfdata] == case["perfdata"]
    if "value" in case:
        assert reading.value == pytest.approx(case["value"], abs=1e-6)


@pytest.mark.parametrize("path", sorted(CASES.glob("*/*.yml")), ids=lambda p: p.parent.name)
def test_read_agrees_with_parse(path: Path) -> None:
    """`read` is the richer door to the same parse: same value, same errors."""
    case = yaml.safe_load(path.read_text())
    kind = REGISTRY.checks[path.parent.name]
    params = kind.params_model.model_validate(case["params"])
    output = CommandOutput(case["stdout"], case.get("stderr", ""), case.get("exit_code", 0))
    try:
        value: float | None = kind.parse(output, params)
    except ParseError:
        value = None
    try:
        reading = kind.read(output, params)
    except ParseError:
        assert value is None
        return
    if value is not None:
        assert reading.value == pytest.approx(value, abs=1e-9)
    else:  # only a kind that judges for itself may have a reading without a value
        assert reading.value is None
        assert reading.status is not None


def test_perfdata_keeps_every_field() -> None:
    (item,) = parse_perfdata("'in use'=87.5%;80:;90:;0;100")
    assert (item.label, item.value, item.uom) == ("in use", 87.5, "%")
    assert (item.warn, item.crit, item.min, item.max) == ("80:", "90:", 0.0, 100.0)


def test_perfdata_quotes_undetermined_values_and_malformed_items() -> None:
    items = parse_perfdata("'it''s'=U;;;; junk x=1,5s time=oops y=-2e3")
    assert [(p.label, p.value, p.uom) for p in items] == [
        ("it's", None, ""),
        ("x", 1.5, "s"),
        ("y", -2000.0, ""),
    ]


def test_plugin_output_with_long_text_and_more_perfdata() -> None:
    summary, perf = split_plugin_output("OK - fine | a=1\nline two\nline three | b=2\nc=3\n")
    assert summary == "OK - fine"
    assert [p.label for p in parse_perfdata(perf)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("data.result[0].value[1]", ("data", "result", 0, "value", 1)),
        ("$.items[-1].name", ("items", -1, "name")),
        ("meta[\"odd.key\"]['x y']", ("meta", "odd.key", "x y")),
        ("[2]", (2,)),
    ],
)
def test_json_paths(path: str, steps: tuple[object, ...]) -> None:
    assert compile_json_path(path) == steps


@pytest.mark.parametrize(
    ("path", "where"), [("a..b", "character 2"), ("a[x]", "character 2"), ("a b", "character 2")]
)
def test_bad_json_paths_say_where(path: str, where: str) -> None:
    with pytest.raises(ValueError, match=where):
        compile_json_path(path)


def test_json_mode_needs_a_path_and_a_path_needs_json_mode() -> None:
    model = REGISTRY.checks["command"].params_model
    with pytest.raises(ValueError, match="'json_path' is required with parse: json"):
        model.model_validate({"command": "cat x.json", "parse": "json"})
    with pytest.raises(ValueError, match="'json_path' is required with parse: json"):
        model.model_validate({"command": "cat x", "json_path": "a"})
    with pytest.raises(ValueError, match="'perf_label' is only for parse: nagios"):
        model.model_validate({"command": "x", "perf_label": "load1"})
