"""Remediation kinds: what can be done to a host when a check fails."""

from __future__ import annotations

import shlex

from pydantic import Field, field_validator

from jarvisctl.kinds.base import KindParams, RemediationKind
from jarvisctl.models.values import Duration


class RunParams(KindParams):
    commands: list[str] = Field(min_length=1)


class Run(RemediationKind[RunParams]):
    name = "run"
    description = "Run commands in order; stop at the first that fails."
    params_model = RunParams
    shell_params = frozenset({"commands"})

    def commands(self, params: RunParams) -> tuple[str, ...]:
        return tuple(params.commands)


class ServiceParams(KindParams):
    unit: str = Field(min_length=1)

    @field_validator("unit")
    @classmethod
    def _plain(cls, value: str) -> str:
        if value.startswith("-"):
            raise ValueError(f"unit name {value!r} may not start with '-'")
        return value


class RestartService(RemediationKind[ServiceParams]):
    name = "restart_service"
    description = "Restart a systemd unit."
    params_model = ServiceParams

    def commands(self, params: ServiceParams) -> tuple[str, ...]:
        return (f"systemctl restart {shlex.quote(params.unit)}",)


class ReloadService(RemediationKind[ServiceParams]):
    name = "reload_service"
    description = "Reload a systemd unit's configuration (reload-or-restart)."
    params_model = ServiceParams

    def commands(self, params: ServiceParams) -> tuple[str, ...]:
        return (f"systemctl reload-or-restart {shlex.quote(params.unit)}",)


class JournalParams(KindParams):
    max_size: str | None = Field(default="500M", pattern=r"^\d+[KMGT]?$")
    max_age: Duration | None = None


class VacuumJournal(RemediationKind[JournalParams]):
    name = "vacuum_journal"
    description = "Shrink the systemd journal to a size and/or age."
    params_model = JournalParams

    def commands(self, params: JournalParams) -> tuple[str, ...]:
        args = ["journalctl"]
        if params.max_size:
            args.append(f"--vacuum-size={params.max_size}")
        if params.max_age:
            args.append(f"--vacuum-time={int(params.max_age)}s")
        return (" ".join(args),) if len(args) > 1 else ()
