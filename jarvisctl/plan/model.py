"""The resolved plan: frozen values that say exactly what would run where.

`jarvisctl plan` stops here and prints these; the executor will consume the same values.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.config.models.values import Direction, Threshold
from jarvisctl.config.schedule import ScheduleSpec
from jarvisctl.core.errors import Location, Problem
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import KindParams

if TYPE_CHECKING:  # a run without steps does not import them
    from jarvisctl.kinds.step_base import StepAction


@frozen
class RemediationPlan:
    """One rung of a check's remediation ladder resolved for one host: its commands, the statuses it
    runs on, its budget, and the statuses that verify it."""

    use: str
    kind: str
    description: str
    on: tuple[str, ...]
    commands: tuple[str, ...]
    max_attempts: int
    window: float
    cooldown: float
    settle: float
    verify: tuple[str, ...] = ("ok",)
    timeout: float = 300.0
    reconnect: float = 0.0  # seconds to wait for the host to come back (a reboot), else 0


@frozen
class CheckPlan:
    """One check resolved for one host: its rendered command and parameters, its thresholds, and its
    remediation ladder."""

    name: str
    use: str
    kind: str
    description: str
    command: str
    params: KindParams
    unit: str
    direction: Direction
    warn: Threshold | None
    crit: Threshold | None
    clear: Threshold | None
    for_cycles: int
    timeout: float
    tags: tuple[str, ...]
    remediations: tuple[RemediationPlan, ...]
    location: Location


@frozen
class Retention:
    """`keep:` of a backup, counted as restic's `forget --keep-*` counts (calendar days, ISO
    weeks, months in UTC); None: that rule keeps nothing by itself."""

    last: int | None = None
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None


@frozen
class BackupStorePlan:
    """A store from `backup_stores:` in jarvisctl.yml, or the default local one."""

    name: str  # "local" when none is named
    kind: str  # "local" or "restic"
    location: str  # a directory (local), a restic repository path
    password: str | None = None  # restic's, resolved from env()/secret_file(): in Plan.secrets


@frozen
class BackupPlan:
    """One entry of a play's `backups:` resolved for one host."""

    name: str
    play: str
    source: str  # "paths" or "command"
    paths: tuple[str, ...]  # absolute paths on the host (source "paths")
    exclude: tuple[str, ...]  # tar --exclude globs
    command: str | None  # rendered (source "command"); outputs redact Plan.secrets
    file: str | None  # the name a command's stream is stored under
    keep: Retention
    max_age: float | None  # seconds; derives the freshness check
    verify: str  # "checksum" or "restore"
    store: BackupStorePlan
    compress: str  # "gzip", "zstd" or "none", on the wire and in a local store
    timeout: float  # seconds for the whole transfer
    become: bool
    bandwidth: int | None  # bytes per second at most, None: unlimited
    nice: bool  # run the host's side under `nice -n 19` and `ionice -c 3` where present
    tags: tuple[str, ...]
    location: Location


NOWHERE = Location("")  # a value built by code, not read from a file (tests)


# the phase of a remediation rung's attempt, which the step engine runs as a step
# (engine/attempts.py): never in a plan's tasks or rollout
REMEDIATION = "remediation"


@frozen
class StepPlan:
    """One step of a play's `tasks:` or of its rollout's `steps:`/`rollback:`, rendered for one
    host. Guards are checked on the host before the action; a guard that holds makes the step
    `ok` (skipped: already done) without running it."""

    phase: str  # "task", "step" or "rollback"; REMEDIATION for a rung's attempt
    index: int  # 0-based position in its list (the durable progress counts by it)
    name: str  # its `name:`, else the kind's summary
    kind: str
    action: StepAction
    params: KindParams
    retries: int = 0
    delay: float = 5.0
    timeout: float = 300.0  # each command's
    once: bool = False
    creates: str | None = None  # a path on the host (a value: the engine quotes it)
    removes: str | None = None  # a path on the host
    unless: str | None = None  # a rendered shell command
    changed_when: bool | str | None = None  # see config/models/steps.py
    become: bool = False
    tags: tuple[str, ...] = ()
    location: Location = NOWHERE

    @property
    def key(self) -> str:
        """Its identity in a rollout's durable progress: phase and position."""
        return f"{self.phase}:{self.index + 1}"


@frozen
class RolloutPlan:
    """A play's `rollout:` resolved: the hosts of each batch (in the inventory's order), and
    the rules between them. Each host's own steps are on its HostPlan."""

    batches: tuple[tuple[str, ...], ...]
    max_fail_percentage: float
    unreachable: str  # "defer" or "fail"
    pause_after: tuple[int, ...]  # 1-based batch numbers
    gate: tuple[str, ...]  # check names of the play
    settle: float
    gate_timeout: float
    wait_for: tuple[str, ...]  # check names of the play
    wait_timeout: float
    backup: tuple[str, ...]  # backup names of the play
    defer_for: float
    location: Location = NOWHERE

    def batch_of(self, host: str) -> int:
        """The 1-based number of the host's batch."""
        for number, hosts in enumerate(self.batches, 1):
            if host in hosts:
                return number
        raise KeyError(host)


@frozen
class HostPlan:
    """One host of a play resolved: how to connect to it, and its checks, backups and steps."""

    host: str
    settings: ConnectionSettings
    checks: tuple[CheckPlan, ...]
    backups: tuple[BackupPlan, ...] = ()  # taken after the checks, in this order
    tasks: tuple[StepPlan, ...] = ()  # the play's `tasks:`, after the checks
    steps: tuple[StepPlan, ...] = ()  # its rollout's `steps:`
    rollback: tuple[StepPlan, ...] = ()  # its rollout's `rollback:`

    @property
    def connection(self) -> str:
        s = self.settings
        if s.connection == "local":
            return "local"
        user = f"{s.user}@" if s.user else ""
        become = " (become)" if s.become else ""
        return f"ssh {user}{s.where}{become}"


@frozen
class SchedulePlan:
    """A play's `schedule:` as `plan` shows it: described, and its next fire times."""

    description: str
    next_fire_times: tuple[datetime, ...]


@frozen
class ScheduledPlay:
    """A play with `schedule:`, as its file declares it: what the daemon makes a job of."""

    name: str
    spec: ScheduleSpec
    location: Location  # of the play's name


@frozen
class PlayPlan:
    """One play resolved: its hosts, each with its own plan, and what applies across them (the fleet
    circuit breaker, its rollout, its alerts' labels)."""

    name: str
    hosts_pattern: str
    location: Location
    tags: tuple[str, ...]
    schedule: SchedulePlan | None
    hosts: tuple[HostPlan, ...]
    max_fleet_percent: float = 30.0
    breaker_min_hosts: int = 2
    rollout: RolloutPlan | None = None
    # `labels:`, sorted by name: added to each of the play's alerts
    labels: tuple[tuple[str, str], ...] = ()


@frozen
class PlaybookPlan:
    """One playbook file: its plays when it is valid, or every problem found in it."""

    file: str
    plays: tuple[PlayPlan, ...] = ()
    problems: tuple[Problem, ...] = ()
    seconds: float = 0.0  # measured: loading and resolving this file (JUnit's `time`)
    path: Path | None = None  # the file as it was read (None: a problem not in a playbook)
    # its plays with `schedule:` that validated, whether or not the file has problems
    scheduled: tuple[ScheduledPlay, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@frozen
class Plan:
    """Every playbook planned against one inventory for `--limit` and `--tags`: what `plan` prints
    and a run executes."""

    playbooks: tuple[PlaybookPlan, ...]
    inventory: str
    limit: str | None
    tags: tuple[str, ...]
    generated_at: datetime
    # values from env(), secret_file() and secret_vars: every output redacts them
    secrets: frozenset[str] = frozenset()
    seconds: float = 0.0  # measured: the whole plan, shared inventory and catalogues included

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.playbooks)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(problem for p in self.playbooks for problem in p.problems)
