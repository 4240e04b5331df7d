"""Every kind that puts a `with:` parameter into a command quotes it: each string parameter of
every check and remediation kind is given hostile values, and the command the kind builds is run
with sh and an empty PATH (so no program can run, only the shell itself). A value that broke out
of its quoting would create the marker file with a redirection."""

from __future__ import annotations

import shlex
import subprocess
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from jarvisctl.kinds.base import CheckKind, RemediationKind
from jarvisctl.kinds.registry import load_registry

REGISTRY = load_registry()
KINDS: list[CheckKind[Any] | RemediationKind[Any]] = [
    *REGISTRY.checks.values(),
    *REGISTRY.remediations.values(),
]

# Valid values for required parameters, so that each hostile value is tried on its own.
VALID: dict[str, Any] = {
    "port": 1,
    "host": "127.0.0.1",
    "url": "http://127.0.0.1:1",
    "query": "up",
    "pattern": "x",
    "match": "x",
    "unit": "x",
    "name": "x",
    "zone": "x",
    "path": "/nonexistent",
    "paths": ["/nonexistent"],
}

# Each breaks out of one quoting or another if it is done wrong, by redirecting into M.
HOSTILE = ["x'; >M; '", 'x"; >M; "', "$(>M)", "`>M`", "x\n>M\n", "x\\'; >M; \\'", "-x; >M"]


def _string_fields(model: type[BaseModel]) -> list[tuple[str, bool]]:
    """(name, is a list) of the model's string and list-of-string fields."""
    found = []
    for name, info in model.model_fields.items():
        text = str(info.annotation)
        if "str" in text:
            found.append((name, typing.get_origin(info.annotation) is list or "list" in text))
    return found


def _cases() -> list[tuple[str, str, str, Any]]:
    cases = []
    for kind in KINDS:
        if kind.shell_params:
            continue  # command and run: their parameters are command text by design
        for field, is_list in _string_fields(kind.params_model):
            for value in HOSTILE:
                prefix = {"url": "http://h/", "path": "/", "paths": "/", "root": "/"}.get(field, "")
                given = [prefix + value] if is_list else prefix + value
                cases.append((type(kind).__name__, kind.name, field, given))
    return cases


CASES = _cases()


def test_every_kind_with_string_parameters_is_tried() -> None:
    tried = {(kind, field) for kind, _, field, _ in CASES}
    assert ("DiskUsage", "path") in tried and ("StopProcess", "match") in tried
    assert len(tried) >= 15


def _commands(kind_name: str, field: str, value: Any) -> list[str] | None:
    kind = REGISTRY.checks.get(kind_name) or REGISTRY.remediations[kind_name]
    fields = kind.params_model.model_fields
    given = {k: v for k, v in VALID.items() if k in fields and fields[k].is_required()}
    given[field] = value
    if kind_name in ("log_pattern",) and field == "container":
        given["source"] = "docker"
    try:
        params = kind.params_model.model_validate(given)
    except ValidationError:
        return None  # refused by the kind: as safe as quoting
    if isinstance(kind, CheckKind):
        return [kind.command(params)]
    return list(kind.commands(params))


@pytest.mark.parametrize(("_", "kind_name", "field", "value"), CASES)
def test_a_hostile_parameter_never_runs(
    _: str, kind_name: str, field: str, value: Any, tmp_path: Path
) -> None:
    commands = _commands(kind_name, field, value)
    if commands is None:
        return
    empty = tmp_path / "empty-path"
    empty.mkdir()
    for command in commands:
        subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=tmp_path,
            env={"PATH": str(empty)},
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert not (tmp_path / "M").exists(), command


def test_a_value_that_starts_with_a_dash_is_not_read_as_an_option() -> None:
    stop = REGISTRY.remediations["stop_process"]
    params = stop.params_model.model_validate({"match": "-v"})
    assert stop.commands(params) == ("pkill -TERM -f -- -v; test $? -le 1",)
    with pytest.raises(ValidationError, match="may not start with '-'"):
        REGISTRY.checks["disk_usage"].params_model.model_validate({"path": "--total"})


def test_the_keyscan_hint_writes_a_host_key_alias_literally(tmp_path: Path) -> None:
    """The command a host key error tells the operator to run renames the scanned line to the
    HostKeyAlias with sed: an alias holding `/` must not end the sed command (GNU sed's `e`
    would run what follows)."""
    import paramiko

    from jarvisctl.connection.hostkeys import _keyscan_command

    alias = "a/b&c\\d/;e >M;s/x/"
    key = paramiko.RSAKey.generate(1024)
    command = _keyscan_command("10.0.0.5", 22, key, tmp_path / "known_hosts", alias)
    words = shlex.split(command.split(" | ", 1)[1].split(" >> ")[0])
    assert words[0] == "sed"
    done = subprocess.run(
        words, input="10.0.0.5 ssh-ed25519 AAAA\n", cwd=tmp_path, capture_output=True, text=True
    )
    assert done.stdout == f"{alias} ssh-ed25519 AAAA\n", done.stderr
    assert not (tmp_path / "M").exists()
