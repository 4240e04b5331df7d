"""Which kinds exist: the built-in ones and those third parties register through entry points."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from jarvisctl.core.entry_points import entry_points_of
from jarvisctl.core.errors import ConfigError, Location
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import CheckKind, RemediationKind

if TYPE_CHECKING:  # a run without steps does not import them
    from jarvisctl.kinds.step_base import StepKind

CHECK_GROUP = "jarvisctl.checks"
REMEDIATION_GROUP = "jarvisctl.remediations"
STEP_GROUP = "jarvisctl.steps"
# the freshness check of a backup (from its max_age), which plan/ derives and names
BACKUP_AGE = "backup_age"

# name -> "module:Class" in jarvisctl.kinds: a kind's module is imported when a plan first uses
# the kind, so that a run of `command` checks does not import (nor hold in memory) the code of
# the others (about 0.6 MiB and 15 ms at start-up). tests/unit/test_registry_plugins.py
# checks each name against its class.
BUILTIN_CHECKS: Mapping[str, str] = {
    "disk_usage": "system:DiskUsage",
    "inode_usage": "system:InodeUsage",
    "memory_available": "system:MemoryAvailable",
    "swap_used": "system:SwapUsed",
    "load_per_core": "system:LoadPerCore",
    "cpu_usage": "resources:CpuUsage",
    "uptime": "resources:Uptime",
    "open_files": "resources:OpenFiles",
    "file_age": "files:FileAge",
    "path_size": "files:PathSize",
    "path_exists": "files:PathExists",
    "jetson_temperature": "jetson:JetsonTemperature",
    "jetson_gpu_load": "jetson:JetsonGpuLoad",
    "jetson_power": "jetson:JetsonPower",
    "jetson_throttling": "jetson:JetsonThrottling",
    "systemd_unit": "services:SystemdUnit",
    "systemd_failed_units": "services:SystemdFailedUnits",
    "process": "services:Process",
    "clock_offset": "services:ClockOffset",
    "tcp_port": "network:TcpPort",
    "http": "network:Http",
    "tls_days_left": "network:TlsDaysLeft",
    "docker_container": "containers:DockerContainer",
    "prometheus_query": "monitoring:PrometheusQuery",
    "log_pattern": "monitoring:LogPattern",
    "command": "command:Command",
    BACKUP_AGE: "backups:BackupAge",
}
BUILTIN_REMEDIATIONS: Mapping[str, str] = {
    "run": "remedies:Run",
    "restart_service": "remedies:RestartService",
    "reload_service": "remedies:ReloadService",
    "vacuum_journal": "remedies:VacuumJournal",
    "docker_restart": "remedies:DockerRestart",
    "clean_paths": "remedies:CleanPaths",
    "stop_process": "remedies:StopProcess",
    "reboot": "remedies:Reboot",
}
# the step kinds of tasks and rollouts (kinds/steps.py)
BUILTIN_STEPS: Mapping[str, str] = {
    "run": "steps:Run",
    "copy": "steps_copy:Copy",
    "wait_for": "steps_wait:WaitFor",
    "reboot": "steps:Reboot",
    "restore": "steps:Restore",
    "fabric": "steps:Fabric",
    "package": "steps_system:Package",
    "service": "steps_system:Service",
    "docker": "steps_docker:Docker",
}

K = TypeVar("K")


class Kinds(Mapping[str, K], Generic[K]):
    """The kinds by name: the built-in ones made on first use, the plugins' (which win over a
    built-in of the same name) as loaded. Shared by threads: a kind is made once."""

    def __init__(self, builtin: Mapping[str, str], plugins: Mapping[str, K]) -> None:
        self._builtin = builtin
        self._made: dict[str, K] = dict(plugins)
        self._names = tuple(dict.fromkeys([*builtin, *plugins]))
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> K:
        found = self._made.get(name)
        if found is not None:
            return found
        spec = self._builtin[name]  # KeyError: no such kind
        with self._lock:
            if name not in self._made:
                module, cls = spec.split(":")
                kind: Any = getattr(importlib.import_module(f"jarvisctl.kinds.{module}"), cls)
                self._made[name] = kind()
            return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._made or name in self._builtin


@frozen
class KindRegistry:
    """The check, remediation and step kinds by name: the built-in ones and the plugins'."""

    checks: Mapping[str, CheckKind[Any]]
    remediations: Mapping[str, RemediationKind[Any]]
    steps: Mapping[str, StepKind[Any]]


def load_registry() -> KindRegistry:
    """Built-in kinds, then plugins; a plugin that fails to load is a clear error.

    Loaded once per process (the planner and the executor share it): scanning every installed
    distribution for entry points is most of its cost. A plugin installed later is seen by the
    next process (for the daemon: after a restart).
    """
    return _load_registry()


@cache
def _load_registry() -> KindRegistry:
    checks = _plugins(entry_points_of(CHECK_GROUP), CHECK_GROUP, CheckKind)
    remediations = _plugins(entry_points_of(REMEDIATION_GROUP), REMEDIATION_GROUP, RemediationKind)
    step_points = entry_points_of(STEP_GROUP)
    steps: dict[str, Any] = {}
    if step_points:
        from jarvisctl.kinds.step_base import StepKind

        steps = _plugins(step_points, STEP_GROUP, StepKind)
    return KindRegistry(
        Kinds(BUILTIN_CHECKS, checks),
        Kinds(BUILTIN_REMEDIATIONS, remediations),
        Kinds(BUILTIN_STEPS, steps),
    )


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
