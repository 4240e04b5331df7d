"""The generic `command` kind: any command, its output parsed as a number, a regex group, a JSON
path, its exit code, or the Nagios plugin protocol (status from the exit code, perfdata kept)."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import field_validator, model_validator

from jarvisctl.config.models.values import NonEmptyText
from jarvisctl.core.regex_bounds import backtracking_hazard
from jarvisctl.core.regex_search import match_bounded
from jarvisctl.core.results import Status
from jarvisctl.kinds.base import (
    CheckKind,
    CommandOutput,
    KindParams,
    ParseError,
    PerfDatum,
    Reading,
    compiled_regex,
    require_exit_zero,
)
from jarvisctl.kinds.exits import TIMED_OUT, missing_tool

PathStep = str | int


class CommandParams(KindParams):
    command: NonEmptyText  # "" would run nothing and fail every parse
    parse: Literal["number", "regex", "json", "exit_code", "nagios"] = "number"
    # with parse: regex, the first group (or the whole match) of its first match in the last
    # 64 KiB of the output is the value (searched in a child process given 3 s)
    regex: str | None = None
    json_path: str | None = None  # with parse: json, e.g. data.result[0].value[1]
    perf_label: str | None = None  # with parse: nagios, the perfdata item that is the value

    @field_validator("regex")
    @classmethod
    def _bounded_regex(cls, value: str | None) -> str | None:
        """It compiles, and cannot backtrack exponentially (it is matched against a host's
        output, which may be hostile: see core/regex_bounds.py)."""
        compiled_regex(value)
        if value is not None and (why := backtracking_hazard(value)):
            raise ValueError(f"{value!r} {why}")
        return value

    @field_validator("json_path")
    @classmethod
    def _path_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_json_path(value)
        return value

    @model_validator(mode="after")
    def _mode_params(self) -> CommandParams:
        for mode, key in (("regex", "regex"), ("json", "json_path")):
            if (self.parse == mode) != (getattr(self, key) is not None):
                raise ValueError(f"'{key}' is required with parse: {mode}, and only then")
        if self.perf_label is not None and self.parse != "nagios":
            raise ValueError("'perf_label' is only for parse: nagios")
        return self


def _number(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ParseError(f"output is not a number: {text.strip()[:80]!r}") from None


# --- JSON paths: `a.b[0]["odd.key"]`, optionally starting with `$` ---------------------------

_PATH_STEP = re.compile(
    r"""\.([A-Za-z_][\w-]*)|\[\s*(-?\d+)\s*\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[\s*'([^']*)'\s*\]"""
)
_PATH_HINT = 'e.g. data.result[0].value[1], items[-1].name or meta["odd.key"]'


def compile_json_path(path: str) -> tuple[PathStep, ...]:
    """The keys and indexes of a path; ValueError saying where it stops making sense."""
    text = path.strip().removeprefix("$")
    if text and text[0] not in ".[":
        text = "." + text
    offset = len(path) - len(path.lstrip()) + (len(path.strip()) - len(text)) + 1
    steps: list[PathStep] = []
    pos = 0
    while pos < len(text):
        found = _PATH_STEP.match(text, pos)
        if found is None:
            where = max(1, pos + offset)
            raise ValueError(f"invalid json_path {path!r} at character {where} ({_PATH_HINT})")
        name, index, double, single = found.groups()
        if index is not None:
            steps.append(int(index))
        elif double is not None:
            steps.append(json.loads(f'"{double}"'))
        else:
            steps.append(single if single is not None else name)
        pos = found.end()
    if not steps:
        raise ValueError(f"empty json_path ({_PATH_HINT})")
    return tuple(steps)


def _show_path(steps: tuple[PathStep, ...]) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps).lstrip(".")


def follow_json_path(document: Any, steps: tuple[PathStep, ...]) -> Any:
    node = document
    for depth, step in enumerate(steps):
        where = _show_path(steps[: depth + 1])
        if isinstance(step, int):
            if not isinstance(node, list):
                raise ParseError(f"json_path {where}: not a list here")
            if not -len(node) <= step < len(node):
                raise ParseError(f"json_path {where}: the list has {len(node)} items")
            node = node[step]
        else:
            if not isinstance(node, dict):
                raise ParseError(f"json_path {where}: not an object here")
            if step not in node:
                keys = ", ".join(sorted(map(str, node))[:8])
                raise ParseError(f"json_path {where}: no such key (keys: {keys})")
            node = node[step]
    return node


def json_value(text: str, path: str) -> float:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"output is not JSON ({exc}): {text.strip()[:80]!r}") from None
    node = follow_json_path(document, compile_json_path(path))
    if isinstance(node, bool):
        return 1.0 if node else 0.0
    if isinstance(node, int | float):
        return float(node)
    if isinstance(node, str):
        return _number(node)
    shown = "null" if node is None else type(node).__name__.replace("dict", "object")
    raise ParseError(f"json_path {path} is {shown}, not a number")


# --- The Nagios plugin protocol ---------------------------------------------------------------

NAGIOS_STATUS = {0: Status.OK, 1: Status.WARNING, 2: Status.CRITICAL, 3: Status.UNKNOWN}
_PERF_ITEM = re.compile(r"""('(?:[^']|'')+'|[^'=\s][^=\s]*)=(\S*)""")
_PERF_VALUE = re.compile(r"^([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?|U)([^\d;]*)$")


def _perf_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ".")) if text else None
    except ValueError:
        return None


def parse_perfdata(text: str) -> tuple[PerfDatum, ...]:
    """`'label'=value[UOM];[warn];[crit];[min];[max]` items; malformed ones are skipped, as
    Nagios itself does."""
    items: list[PerfDatum] = []
    for label, rest in _PERF_ITEM.findall(text):
        fields = [*rest.split(";"), "", "", "", ""]
        found = _PERF_VALUE.match(fields[0])
        if found is None:
            continue
        if label.startswith("'"):
            label = label[1:-1].replace("''", "'")
        value = None if found[1] == "U" else _perf_number(found[1])
        mn, mx = _perf_number(fields[3]), _perf_number(fields[4])
        items.append(PerfDatum(label, value, found[2], fields[1], fields[2], mn, mx))
    return tuple(items)


def split_plugin_output(text: str) -> tuple[str, str]:
    """The summary (first line's text) and all perfdata: after `|` on the first line, and after
    the first `|` in the long text, up to the end (the Nagios 3 multi-line format)."""
    first, _, long_text = text.strip("\n").partition("\n")
    summary, _, perf = first.partition("|")
    _, bar, more = long_text.partition("|")
    return summary.strip(), f"{perf} {more if bar else ''}".strip()


def read_nagios(output: CommandOutput, perf_label: str | None) -> Reading:
    code = output.exit_code
    if code is None:
        raise ParseError("the plugin did not exit")
    if code in TIMED_OUT:
        raise ParseError(f"timed out (exit {code}): the plugin was killed on the host")
    if code == 127:
        raise missing_tool(output, {})
    status = NAGIOS_STATUS.get(code)
    summary, perf = split_plugin_output(output.stdout)
    if status is None:
        said = summary or output.stderr.strip()[:200]
        raise ParseError(f"exit {code} is not a Nagios plugin status (0-3): {said}".rstrip(": "))
    perfdata = parse_perfdata(perf)
    chosen = perfdata[:1]
    if perf_label is not None:
        chosen = tuple(p for p in perfdata if p.label == perf_label)
        if not chosen:
            labels = ", ".join(p.label for p in perfdata) or "none"
            raise ParseError(f"no perfdata labelled {perf_label!r} (labels: {labels})")
    value = chosen[0].value if chosen else None
    return Reading(value, status, summary or output.stderr.strip()[:200], perfdata)


def _regex_value(pattern: str, stdout: str) -> float:
    """The first group of the pattern's first match (the whole match when it has no group),
    searched in the last SEARCHED_CHARS characters of the output by a child process given
    MATCH_SECONDS (core/regex_search.py): a hostile output cannot hold the run."""
    found = match_bounded(pattern, stdout)
    if isinstance(found, str):
        raise ParseError(f"pattern {pattern!r} could not be matched against the output {found}")
    if found is None:
        raise ParseError(f"pattern {pattern!r} did not match the output")
    if not found.groups:
        return _number(found.text)
    if found.groups[0] is None:
        raise ParseError(f"pattern {pattern!r} matched, but its first group took no part")
    return _number(found.groups[0])


class Command(CheckKind[CommandParams]):
    name = "command"
    description = (
        "Any command; its output parsed as a number, a regex group, a JSON path, its exit code, "
        "or the Nagios plugin protocol (the plugin's status, and its first perfdata value or "
        "perf_label's)."
    )
    params_model = CommandParams
    shell_params = frozenset({"command"})

    def command(self, params: CommandParams) -> str:
        return params.command

    def parse(self, output: CommandOutput, params: CommandParams) -> float:
        if params.parse == "nagios":
            reading = read_nagios(output, params.perf_label)
            if reading.value is None:
                status = reading.status.name if reading.status else "no status"
                raise ParseError(f"the plugin gave no perfdata value ({status}: {reading.summary})")
            return reading.value
        if params.parse == "exit_code":
            if output.exit_code is None:
                raise ParseError("the command did not exit")
            return float(output.exit_code)
        require_exit_zero(output)
        if params.parse == "number":
            return _number(output.stdout)
        if params.parse == "json":
            return json_value(output.stdout, params.json_path or "")
        return _regex_value(params.regex or "", output.stdout)

    def read(self, output: CommandOutput, params: CommandParams) -> Reading:
        if params.parse == "nagios":
            return read_nagios(output, params.perf_label)
        return Reading(self.parse(output, params))
