"""What one attempt of a step's action is made of, shared by the step engine (engine/steps.py)
and the modules that run each kind of action (step_shell, step_reboot, step_restore,
step_fabric, step_remedy: a remediation rung is an action too): how an attempt ended, the
commands it ran, and what an action may ask of the runner that carries it out."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from jarvisctl.config.models.values import format_duration
from jarvisctl.connection.base import CommandResult, Connection
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import CheckResult, StepOutcome
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.session import Session
from jarvisctl.kinds.step_base import HostCommand
from jarvisctl.plan.model import StepPlan

if TYPE_CHECKING:
    from jarvisctl.engine.backups import BackupWork


@dataclass
class Trail:
    """The commands one attempt ran (as the journal shows them) and their exit codes."""

    commands: list[str] = field(default_factory=list)
    exit_codes: list[int | None] = field(default_factory=list)


@frozen
class Ran:
    """How one attempt of a step's action ended. `applied`: the action ran (False when the
    probe found nothing to do, or when check mode only looked)."""

    outcome: StepOutcome
    reason: str
    applied: bool = True
    verification: CheckResult | None = None  # the check that verified it (a remediation's)


class StepHost(Protocol):
    """What an action's attempt may use of the runner: the session, the connection (a
    reboot replaces it), the pool to reach the host again, the run's backups, its stop."""

    session: Session
    connection: Connection
    pool: ConnectionPool
    backups: BackupWork | None  # None: no snapshot to restore from
    cancel: threading.Event

    @property
    def checking(self) -> bool: ...

    def command(
        self, step: StepPlan, command: str | HostCommand, trail: Trail, *, timeout: float = 0.0
    ) -> CommandResult: ...


def failure(result: CommandResult) -> str:
    """How a command failed, for a step's reason: timed out, or its exit code and the last
    line it printed (stderr first)."""
    if result.timed_out:
        return f"{result.command!r} timed out after {format_duration(round(result.duration))}"
    if result.exit_code is None:
        return f"{result.command!r} ended without an exit status"
    tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
    return f"{result.command!r} exited {result.exit_code}: {tail[0][:200]}".rstrip(": ")
