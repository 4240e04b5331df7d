"""The step kinds that run a command or name work only the engine can do: `run`, `reboot`,
`restore`, `fabric`. The others: steps_copy (copy), steps_system (package, service),
steps_docker (docker), steps_wait (wait_for)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from jarvisctl.config.models.values import BACKUP_NAME, BACKUP_NAME_HINT, NonEmptyText, Timeout
from jarvisctl.kinds.base import KindParams
from jarvisctl.kinds.step_base import (
    FabricAction,
    HostCommand,
    RebootAction,
    RestoreAction,
    ShellAction,
    StepFiles,
    StepKind,
)
from jarvisctl.kinds.steps_shell import plain_path, q

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_TASK = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}$")


def _env_value(value: Any) -> Any:
    """YAML `PORT: 8080` is a number; the environment holds text. A boolean is refused: YAML
    reads `yes`/`on` as true, which would reach the command as "True"."""
    if isinstance(value, bool):
        raise ValueError(f"value {value!r} is a boolean: quote it ('true', 'yes') to mean the text")
    return str(value) if isinstance(value, int | float) else value


class RunParams(KindParams):
    command: NonEmptyText
    chdir: str | None = None  # the directory it runs in (absolute, or from the login's home)
    env: dict[str, str] = Field(default_factory=dict)  # NAME: value, exported to the command

    _chdir_ok = field_validator("chdir")(plain_path)

    @field_validator("env", mode="before")
    @classmethod
    def _env_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _env_value(v) for k, v in value.items()}
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _ENV_NAME.match(name):
                raise ValueError(
                    f"invalid environment variable name {name!r} "
                    "(letters, digits and '_', not starting with a digit)"
                )
            if "\0" in text:
                raise ValueError(f"the value of {name} holds a NUL character")
        return value


class Run(StepKind[RunParams]):
    name = "run"
    description = (
        "Run a shell command (POSIX sh) on the host, in `chdir` with `env` exported; its exit "
        "status is the verdict. It always counts as changed unless `changed_when` says "
        "otherwise; `creates`, `removes` and `unless` make it safe to repeat."
    )
    params_model = RunParams
    shorthand = "command"
    shell_params = frozenset({"command"})

    def action(self, params: RunParams, files: StepFiles) -> ShellAction:
        return ShellAction(apply=(HostCommand(run_command(params)),))

    def summary(self, params: RunParams) -> str:
        lines = params.command.strip().splitlines() or [""]
        more = len(lines[0]) > 60 or len(lines) > 1
        return f"run {lines[0][:60]}" + ("..." if more else "")


def run_command(params: RunParams) -> str:
    """The command after `cd` and the exports; the command itself is the plan's rendering."""
    lines = [f"cd -- {q(params.chdir)} || exit"] if params.chdir else []
    lines += [f"{name}={q(value)}; export {name}" for name, value in params.env.items()]
    return "\n".join([*lines, params.command])


class RebootParams(KindParams):
    wait: Timeout = 600.0  # how long the host may take to come back
    command: NonEmptyText = "systemctl reboot || reboot"


class Reboot(StepKind[RebootParams]):
    name = "reboot"
    description = (
        "Reboot the host (`command`, by default `systemctl reboot || reboot`), then reconnect "
        "until it is back, for at most `wait`, and check that its boot id changed."
    )
    params_model = RebootParams
    shell_params = frozenset({"command"})

    def action(self, params: RebootParams, files: StepFiles) -> RebootAction:
        return RebootAction(HostCommand(params.command), wait=params.wait)

    def summary(self, params: RebootParams) -> str:
        return "reboot"


def _snapshot_id(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", value):
        raise ValueError(f"invalid snapshot id {value!r} (as `jarvisctl backups list` shows it)")
    return value


class RestoreParams(KindParams):
    backup: NonEmptyText  # the name of one of the play's backups
    snapshot: str | None = None  # by default the host's newest verified snapshot

    @field_validator("backup")
    @classmethod
    def _backup_name(cls, value: str) -> str:
        if not BACKUP_NAME.match(value):
            raise ValueError(f"invalid backup name {value!r} ({BACKUP_NAME_HINT})")
        return value

    _snapshot_ok = field_validator("snapshot")(_snapshot_id)


class Restore(StepKind[RestoreParams]):
    name = "restore"
    description = (
        "Restore the host's newest verified snapshot of a backup (or `snapshot`) to where it "
        "was taken, as `jarvisctl backups restore` does."
    )
    params_model = RestoreParams
    shorthand = "backup"
    default_timeout = 3600.0

    def action(self, params: RestoreParams, files: StepFiles) -> RestoreAction:
        return RestoreAction(params.backup, params.snapshot)

    def summary(self, params: RestoreParams) -> str:
        return f"restore {params.backup}" + (f" {params.snapshot}" if params.snapshot else "")


class FabricParams(KindParams):
    task: NonEmptyText  # "module:function", the module found beside the playbook
    args: dict[str, Any] = Field(default_factory=dict)  # the task's keyword arguments

    @field_validator("task")
    @classmethod
    def _target(cls, value: str) -> str:
        if not _TASK.match(value):
            raise ValueError(
                f"invalid task {value!r} (module:function, e.g. fabfile:deploy or "
                "tasks.web:restart)"
            )
        return value

    @field_validator("args")
    @classmethod
    def _keywords(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(_IDENTIFIER, name) or name == "c":
                raise ValueError(
                    f"invalid argument name {name!r} (a Python identifier; `c` is the "
                    "connection jarvisctl passes)"
                )
        return value


class Fabric(StepKind[FabricParams]):
    name = "fabric"
    description = (
        "Call an existing Fabric task (module:function, imported from the playbook's "
        "directory) with a fabric.Connection over jarvisctl's verified route, and `args` as "
        "its keyword arguments. Needs the fabric package on the controller."
    )
    params_model = FabricParams
    shorthand = "task"

    def action(self, params: FabricParams, files: StepFiles) -> FabricAction:
        return FabricAction(params.task, dict(params.args), search_path=files.directory)

    def summary(self, params: FabricParams) -> str:
        return f"fabric {params.task}"
