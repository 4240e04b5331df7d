"""Every step kind quotes the values it puts into commands: each text parameter (and each item
of a list, each value of a mapping) that is not a shell template is given hostile values, and
every command of the action (probe, apply, verify, poll) is run by sh with an empty PATH, so no
program can run, only the shell itself. A value that broke out of its quoting would create the
marker file with a redirection."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from jarvisctl.kinds.registry import load_registry
from jarvisctl.kinds.step_base import PollAction, RebootAction, ShellAction

STEPS = load_registry().steps

HOSTILE = ["x'; >M; '", 'x"; >M; "', "$(>M)", "`>M`", "x\n>M\n", "x\\'; >M; \\'", "-x; >M"]

# the least each kind needs, so that each hostile value is tried on its own
VALID: dict[str, dict[str, Any]] = {
    "run": {"command": "true"},
    "copy": {"content": "x", "dest": "/nonexistent/f"},
    "package": {"name": "nginx"},
    "service": {"name": "app", "state": "started"},
    "docker": {"image": "app:1", "container": "web"},
    "wait_for": {"path": "/nonexistent"},
    "reboot": {},
    "restore": {"backup": "app"},
    "fabric": {"task": "fabfile:deploy"},
}
# where a value must look like something first to be tried further (an absolute path...)
PREFIX = {"dest": "/", "chdir": "/", "path": "/", "url": "http://h/"}


class Files:
    def read(self, src: str, *, template: bool) -> bytes:
        return b"content"

    @property
    def directory(self) -> str:
        return "/nonexistent"


def _shapes(kind_name: str) -> list[tuple[str, str]]:
    """(field, shape) for each text-bearing parameter: "text", "list" or "mapping"."""
    kind = STEPS[kind_name]
    found = []
    for field, info in kind.params_model.model_fields.items():
        if field in kind.shell_params:
            continue  # command text by design: plan renders it with substitutions quoted
        text = str(info.annotation)
        if "dict" in text:
            found.append((field, "mapping"))
        elif "list" in text:
            found.append((field, "list"))
        elif "str" in text:
            found.append((field, "text"))
    return found


def _cases() -> list[tuple[str, str, Any]]:
    cases = []
    for kind_name in STEPS:
        for field, shape in _shapes(kind_name):
            for value in HOSTILE:
                text = PREFIX.get(field, "") + value
                given = {"list": [text], "mapping": {"NAME": text}, "text": text}[shape]
                cases.append((kind_name, field, given))
    return cases


CASES = _cases()


def test_every_text_parameter_of_every_kind_is_tried() -> None:
    tried = {(kind, field) for kind, field, _ in CASES}
    for expected in [
        ("run", "chdir"),
        ("run", "env"),
        ("copy", "dest"),
        ("copy", "owner"),
        ("package", "name"),
        ("package", "version"),
        ("service", "name"),
        ("docker", "image"),
        ("docker", "container"),
        ("docker", "run_args"),
        ("docker", "command"),
        ("wait_for", "host"),
        ("wait_for", "url"),
        ("wait_for", "path"),
    ]:
        assert expected in tried


def _commands(kind_name: str, field: str, value: Any) -> list[str] | None:
    kind = STEPS[kind_name]
    given = {**VALID[kind_name], field: value}
    if field in ("host", "url"):
        given = {"port": 1, field: value} if field == "host" else {field: value}
    try:
        made = kind.action(kind.params_model.model_validate(given), Files())
    except ValidationError:
        return None  # refused by the kind: as safe as quoting
    if isinstance(made, ShellAction):
        found = [c.command for c in made.apply]
        return found + [c for c in (made.probe, made.verify) if c is not None]
    if isinstance(made, PollAction):
        return [made.probe]
    if isinstance(made, RebootAction):
        return [made.command.command]
    return []  # the engine's own work: no command from the kind


@pytest.mark.parametrize(("kind_name", "field", "value"), CASES)
def test_a_hostile_parameter_never_runs(
    kind_name: str, field: str, value: Any, tmp_path: Path
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
            timeout=20,
            check=False,
        )
        assert not (tmp_path / "M").exists(), command


def test_some_hostile_values_are_kept_not_refused() -> None:
    """Quoting, not refusal, is what keeps these safe: the kinds accept them."""
    assert _commands("copy", "dest", "/x'; >M; '")
    assert _commands("run", "env", {"A": "$(>M)"})
    assert _commands("docker", "run_args", ["-e", "A=`>M`"])
    assert _commands("wait_for", "path", "/x\n>M\n")
