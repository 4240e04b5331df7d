"""`jarvisctl.yml`: project-wide settings. Every field has a default; the file is optional."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from jarvisctl.config.models.base import StrictModel
from jarvisctl.config.models.values import (
    BACKUP_NAME,
    BACKUP_NAME_HINT,
    Count,
    Duration,
    NonEmptyText,
    Timeout,
)

if TYPE_CHECKING:
    from jarvisctl.config.models.backups import BackupStoreSpec
else:
    # each store is validated on its own, and only when one is declared
    # (config/backup_entries.py, load_backup_stores): a run that takes no backup does not build
    # the backup models
    BackupStoreSpec = Any


class Timeouts(StrictModel):
    connect: Timeout = 10.0
    command: Timeout = 30.0
    # how long a run waits for the state database while another process holds its lock
    state_lock: Timeout = 30.0


class CataloguePaths(StrictModel):
    """Extra directories searched before the project's own checks/ and the shipped catalogue."""

    checks: list[NonEmptyText] = Field(default_factory=list)
    remediations: list[NonEmptyText] = Field(default_factory=list)


def parse_listen(value: str) -> tuple[str, int]:
    """`127.0.0.1:9469` or `[::1]:9469` -> (address, port); loopback only, by design."""
    host, sep, port = value.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    # port 0 would bind a random port: /healthz and /metrics would be nowhere anyone looks
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(
            f"listen {value!r} is not ADDRESS:PORT (e.g. 127.0.0.1:9469, port 1 to 65535)"
        )
    if host == "localhost":
        return "127.0.0.1", int(port)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"listen address {host!r} is not loopback (127.0.0.0/8, ::1, localhost)")
    return host, int(port)


class HttpSettings(StrictModel):
    """The daemon's HTTP server: bounds that slow, idle or hostile clients cannot outgrow, and
    the token its API's writes require (rendered at the daemon's start: app/api_token.py)."""

    timeout: Timeout = 10.0  # to send a request's head; to take an answer
    workers: Count = Field(default=8, ge=1, le=64)  # answers written at once (one thread each)
    # connections still sending their request head; one more closes the oldest of them
    connections: Count = Field(default=256, ge=4, le=4096)
    # `Authorization: Bearer TOKEN` of POST and DELETE; None: the API refuses every write
    token: str | None = None

    @field_validator("token", mode="before")
    @classmethod
    def _from_a_secret(cls, value: Any) -> Any:
        # never repeats the value: it may be the token itself, written by mistake
        if value is not None and (not isinstance(value, str) or "{{" not in value):
            raise ValueError(
                "write where the token comes from, not the token itself: "
                "\"{{ env('JARVISCTL_API_TOKEN') }}\" or \"{{ secret_file('secrets/api-token') }}\""
            )
        return value


class DaemonSettings(StrictModel):
    """`jarvisctl daemon`: where it serves /healthz, /metrics and /status, and its timing."""

    listen: str = "127.0.0.1:9469"
    misfire_grace: Timeout = 60.0
    stop_timeout: Timeout = 30.0  # in-flight runs may finish within this on SIGTERM
    workers: Count = Field(default=4, ge=1, le=64)  # jobs run at once
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("listen")
    @classmethod
    def _loopback(cls, value: str) -> str:
        parse_listen(value)
        return value


class ProjectConfig(StrictModel):
    inventory: NonEmptyText = "inventory/local.yml"
    state_dir: NonEmptyText = ".jarvisctl"
    forks: Count = Field(default=20, ge=1, le=1000)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    catalogue: CataloguePaths = Field(default_factory=CataloguePaths)
    # [] would leave `plan` nothing to read and the daemon nothing to run, without a word
    playbooks: list[NonEmptyText] = Field(default_factory=lambda: ["playbooks"], min_length=1)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    # a run's claim on each host it acts on expires this long after its last renewal
    lease_ttl: Duration = Field(default=60.0, ge=5)
    # directories secret_file() may read besides the project's own (relative: to the project)
    secret_dirs: list[str] = Field(default_factory=list)
    # where backups are kept, by name; "local" (<state_dir>/backups) unless declared here
    backup_stores: dict[str, BackupStoreSpec] = Field(default_factory=dict)
    # receivers, routes, inhibition and maintenance windows of alerts; absent: nobody is told.
    # Validated by config/notify.py when present (Project.notify): building its models costs a
    # run that has none about 20 ms.
    notify: dict[str, Any] | None = None

    @field_validator("backup_stores")
    @classmethod
    def _store_names(cls, value: dict[str, BackupStoreSpec]) -> dict[str, BackupStoreSpec]:
        for name in value:
            if not BACKUP_NAME.match(name):
                raise ValueError(f"invalid store name {name!r} ({BACKUP_NAME_HINT})")
        return value

    @field_validator("secret_dirs")
    @classmethod
    def _directories(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not entry.strip() or "\0" in entry:
                raise ValueError(f"secret_dirs: {entry!r} is not a directory path")
            if Path(entry).is_absolute() and Path(entry).resolve() == Path("/"):
                raise ValueError("secret_dirs: '/' would let secret_file() read every file")
        return value
