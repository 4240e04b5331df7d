"""Remediation kinds: what can be done to a host when a check fails."""

from __future__ import annotations

import shlex

from pydantic import Field, field_validator

from jarvisctl.config.models.values import NonEmptyText, PositiveDuration, Timeout
from jarvisctl.kinds.base import KindParams, RemediationKind


class RunParams(KindParams):
    commands: list[NonEmptyText] = Field(min_length=1)  # "" would "succeed" doing nothing


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
    max_age: PositiveDuration | None = None  # 0 would be dropped: `if params.max_age`


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


class ContainerParams(KindParams):
    container: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    timeout: int = Field(default=10, ge=0)  # seconds docker waits before killing


class DockerRestart(RemediationKind[ContainerParams]):
    name = "docker_restart"
    description = "Restart a docker container (docker restart -t TIMEOUT NAME)."
    params_model = ContainerParams

    def commands(self, params: ContainerParams) -> tuple[str, ...]:
        return (f"docker restart -t {params.timeout} {shlex.quote(params.container)}",)


class CleanParams(KindParams):
    paths: list[str] = Field(min_length=1)
    older_than: PositiveDuration | None = None  # only files not modified for this long
    larger_than: str | None = Field(default=None, pattern=r"^\d+[kMG]?$")  # find -size units
    pattern: str | None = None  # a shell glob on the file name, e.g. "*.log.*"

    @field_validator("paths")
    @classmethod
    def _absolute(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/") or path.rstrip("/") == "":
                raise ValueError(f"path {path!r} must be absolute and not /")
        return paths


class CleanPaths(RemediationKind[CleanParams]):
    name = "clean_paths"
    description = (
        "Delete regular files under paths, by age, size and name pattern; the files are listed "
        "first (into the audit trail), then deleted. Never follows symlinks or crosses mounts."
    )
    params_model = CleanParams

    def commands(self, params: CleanParams) -> tuple[str, ...]:
        roots = " ".join(shlex.quote(p) for p in params.paths)
        tests = ["-xdev", "-type f"]
        if params.older_than is not None:
            tests.append(f"-mmin +{max(1, int(params.older_than // 60))}")
        if params.larger_than is not None:
            tests.append(f"-size +{params.larger_than}")
        if params.pattern is not None:
            tests.append(f"-name {shlex.quote(params.pattern)}")
        select = f"find -P {roots} {' '.join(tests)}"
        return (f"{select} -print", f"{select} -delete")


class ProcessParams(KindParams):
    match: str = Field(min_length=1)  # a pgrep -f pattern
    signal: str = Field(default="TERM", pattern=r"^[A-Z0-9]+$")


class StopProcess(RemediationKind[ProcessParams]):
    name = "stop_process"
    description = "Send a signal (default TERM) to the processes whose command line matches."
    params_model = ProcessParams

    def commands(self, params: ProcessParams) -> tuple[str, ...]:
        # pkill exits 1 when nothing matched: the runaway is already gone, which is fine
        # `--`: a pattern that starts with '-' is a pattern, not one of pkill's options
        return (f"pkill -{params.signal} -f -- {shlex.quote(params.match)}; test $? -le 1",)


class RebootParams(KindParams):
    wait: Timeout = 600.0  # how long the host may take to come back
    delay_minutes: int = Field(default=0, ge=0)  # shutdown -r +N


class Reboot(RemediationKind[RebootParams]):
    name = "reboot"
    description = "Reboot the host, then reconnect until it is back (within `wait`) and verify."
    params_model = RebootParams

    def commands(self, params: RebootParams) -> tuple[str, ...]:
        if params.delay_minutes:
            return (f"shutdown -r +{params.delay_minutes}",)
        return ("systemctl reboot || reboot",)

    def reconnect_seconds(self, params: RebootParams) -> float:
        return params.wait + params.delay_minutes * 60
