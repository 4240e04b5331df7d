"""Which kinds exist: the built-in ones and those third parties register through entry points."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint
from typing import Any

from jarvisctl.core.entry_points import entry_points_of
from jarvisctl.core.errors import ConfigError, Location
from jarvisctl.kinds import (
    backups,
    command,
    containers,
    files,
    jetson,
    monitoring,
    network,
    remedies,
    resources,
    services,
    system,
)
from jarvisctl.kinds.base import CheckKind, RemediationKind

CHECK_GROUP = "jarvisctl.checks"
REMEDIATION_GROUP = "jarvisctl.remediations"

_BUILTIN_CHECKS: tuple[type[CheckKind[Any]], ...] = (
    system.DiskUsage,
    system.InodeUsage,
    system.MemoryAvailable,
    system.SwapUsed,
    system.LoadPerCore,
    resources.CpuUsage,
    resources.Uptime,
    resources.OpenFiles,
    files.FileAge,
    files.PathSize,
    files.PathExists,
    jetson.JetsonTemperature,
    jetson.JetsonGpuLoad,
    jetson.JetsonPower,
    jetson.JetsonThrottling,
    services.SystemdUnit,
    services.SystemdFailedUnits,
    services.Process,
    services.ClockOffset,
    network.TcpPort,
    network.Http,
    network.TlsDaysLeft,
    containers.DockerContainer,
    monitoring.PrometheusQuery,
    monitoring.LogPattern,
    command.Command,
    backups.BackupAge,
)
_BUILTIN_REMEDIATIONS: tuple[type[RemediationKind[Any]], ...] = (
    remedies.Run,
    remedies.RestartService,
    remedies.ReloadService,
    remedies.VacuumJournal,
    remedies.DockerRestart,
    remedies.CleanPaths,
    remedies.StopProcess,
    remedies.Reboot,
)


@dataclass(frozen=True)
class KindRegistry:
    checks: Mapping[str, CheckKind[Any]]
    remediations: Mapping[str, RemediationKind[Any]]


def load_registry() -> KindRegistry:
    """Built-in kinds, then plugins; a plugin that fails to load is a clear error.

    Loaded once per process (the planner and the executor share it): scanning every installed
    distribution for entry points is most of its cost. A plugin installed later is seen by the
    next process (for the daemon: after a restart).
    """
    return _load_registry()


@cache
def _load_registry() -> KindRegistry:
    checks = {k.name: k() for k in _BUILTIN_CHECKS}
    remediations = {k.name: k() for k in _BUILTIN_REMEDIATIONS}
    checks.update(_plugins(entry_points_of(CHECK_GROUP), CHECK_GROUP, CheckKind))
    remediations.update(
        _plugins(entry_points_of(REMEDIATION_GROUP), REMEDIATION_GROUP, RemediationKind)
    )
    return KindRegistry(checks, remediations)


def _plugins(points: Iterable[EntryPoint], group: str, base: type[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for point in points:
        where = Location(f"entry point {point.name} = {point.value} ({group})")
        try:
            cls = point.load()
        except Exception as exc:  # a broken plugin must not crash the tool with a traceback
            raise ConfigError.at(where, f"cannot load plugin: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise ConfigError.at(where, f"is not a subclass of {base.__name__}")
        instance = cls()
        found[instance.name] = instance
    return found
