"""Small step kinds for the language and plan tests, installed as plugins (entry points of
the `jarvisctl.steps` group) by the `step_kinds` fixture: the planner finds them through the
real registry, as it finds a third party's."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterator
from importlib.metadata import EntryPoint, EntryPoints

import pytest
from pydantic import Field

from jarvisctl.core import entry_points
from jarvisctl.kinds import registry
from jarvisctl.kinds.base import KindParams
from jarvisctl.kinds.registry import STEP_GROUP
from jarvisctl.kinds.step_base import (
    CheckWaitAction,
    HostCommand,
    RebootAction,
    RestoreAction,
    ShellAction,
    StepAction,
    StepFiles,
    StepKind,
)


class ShParams(KindParams):
    command: str
    chdir: str | None = None
    then: list[str] = Field(default_factory=list)  # more commands, after it


class Sh(StepKind[ShParams]):
    """A command (like `run`): the shorthand is the command, a shell template."""

    name = "sh"
    description = "run a command"
    params_model = ShParams
    shorthand = "command"
    shell_params = frozenset({"command", "then"})
    default_timeout = 120.0

    def action(self, params: ShParams, files: StepFiles) -> StepAction:
        command = params.command
        if params.chdir:
            command = f"cd {shlex.quote(params.chdir)} && {command}"
        return ShellAction(apply=tuple(HostCommand(c) for c in (command, *params.then)))

    def summary(self, params: ShParams) -> str:
        return f"sh {params.command}"


class PutParams(KindParams):
    src: str
    dest: str
    template: bool = False
    mode: str = "0644"


class Put(StepKind[PutParams]):
    """A file from the controller (like `copy`): no shorthand."""

    name = "put"
    description = "copy a file"
    params_model = PutParams

    def action(self, params: PutParams, files: StepFiles) -> StepAction:
        if not params.dest.startswith("/"):
            raise ValueError(f"dest {params.dest!r} is not an absolute path")
        content = files.read(params.src, template=params.template)
        digest = hashlib.sha256(content).hexdigest()
        dest = shlex.quote(params.dest)
        return ShellAction(
            probe=f"echo {digest} {dest} | sha256sum -c --status",
            apply=(
                HostCommand(
                    f"cat > {dest}.new && chmod {params.mode} {dest}.new && mv {dest}.new {dest}",
                    stdin=content,
                    describe=f"{params.src} -> {params.dest}",
                ),
            ),
        )


class BounceParams(KindParams):
    wait: float = 600.0


class Bounce(StepKind[BounceParams]):
    """A reboot: every parameter has a default, and there is no shorthand."""

    name = "bounce"
    description = "reboot"
    params_model = BounceParams

    def action(self, params: BounceParams, files: StepFiles) -> StepAction:
        return RebootAction(HostCommand("reboot"), params.wait)


class RecoverParams(KindParams):
    backup: str


class Recover(StepKind[RecoverParams]):
    name = "recover"
    description = "restore a backup"
    params_model = RecoverParams
    shorthand = "backup"

    def action(self, params: RecoverParams, files: StepFiles) -> StepAction:
        return RestoreAction(params.backup)


class HoldParams(KindParams):
    checks: list[str]
    timeout: float = 60.0


class Hold(StepKind[HoldParams]):
    name = "hold"
    description = "wait for checks"
    params_model = HoldParams
    shorthand = "checks"

    def action(self, params: HoldParams, files: StepFiles) -> StepAction:
        return CheckWaitAction(tuple(params.checks), 5.0, params.timeout)


# Bounce, Recover and Hold stand in for built-in kinds (kinds/steps.py): a plugin's step may
# only give a ShellAction or a PollAction, which the planner checks by the kind's module
for _stand_in in (Bounce, Recover, Hold):
    _stand_in.__module__ = "jarvisctl.kinds.stand_in"


class PluginReboot(Bounce):
    """A plugin giving an action only built-in kinds may give."""

    name = "plugin_reboot"


PluginReboot.__module__ = __name__

KINDS = {"sh": "Sh", "put": "Put", "bounce": "Bounce", "recover": "Recover", "hold": "Hold"}


@pytest.fixture
def step_kinds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The kinds above installed as plugins, in a registry loaded afresh."""
    points = [EntryPoint(name, f"{__name__}:{cls}", STEP_GROUP) for name, cls in KINDS.items()]
    points.append(EntryPoint("plugin_reboot", f"{__name__}:PluginReboot", STEP_GROUP))
    monkeypatch.setattr(entry_points, "_installed", lambda: EntryPoints(points))
    registry._load_registry.cache_clear()
    yield
    registry._load_registry.cache_clear()
