"""A play's `tasks:` on a host: after its checks and remediations, before its backups, in
order on the host's connection (engine/steps.py). A failed task fails the host and skips the
tasks after it; a task that changed the host makes it `changed`; a host whose session ended
before (unreachable, interrupted) has its tasks recorded as not attempted."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from jarvisctl.connection.base import Connection
from jarvisctl.core.results import HostRun, Outcome, StepNote, StepOutcome
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.session import Session

if TYPE_CHECKING:  # a run without tasks, backups or controller-side checks never imports it
    from jarvisctl.engine.backups import BackupWork

# sessions whose host was not worked on, or is gone: no task is attempted on them
NOT_WORKED_ON = (Outcome.UNREACHABLE, Outcome.INTERRUPTED, Outcome.SKIPPED)


def run_tasks(
    session: Session,
    run: HostRun,
    connection: Connection | None,
    pool: ConnectionPool,
    work: BackupWork,
    *,
    mode: str,
    cancel: threading.Event,
) -> tuple[HostRun, Connection | None]:
    """The host's run with its tasks' notes, and the connection to go on with (a reboot task
    replaces it)."""
    tasks = session.host.tasks
    if not tasks or run.outcome is Outcome.SKIPPED:
        return run, connection
    # imported only for a play with tasks: a run without steps never imports the step kinds
    from jarvisctl.engine.steps import StepRunner, skipped_step

    if connection is None or run.outcome in NOT_WORKED_ON:
        reason = f"not attempted: the host's session ended {run.outcome.value}"
        notes = tuple(skipped_step(session, task, reason) for task in tasks)
        return replace(run, steps=run.steps + notes), connection
    runner = StepRunner(session, connection, pool, work, mode=mode, cancel=cancel)
    notes = runner.run_all(tasks)
    return with_steps(session, run, notes), runner.connection


def with_steps(session: Session, run: HostRun, notes: tuple[StepNote, ...]) -> HostRun:
    """The host's outcome after its steps: interrupted or failed by the first step that was,
    else changed when one changed, else as it was."""
    run = replace(run, steps=run.steps + notes)
    ended = next(
        (n for n in notes if n.outcome in (StepOutcome.FAILED, StepOutcome.INTERRUPTED)), None
    )
    if ended is not None:
        outcome = Outcome.FAILED
        error = f"{ended.phase} {ended.name!r} {ended.outcome.value}: {ended.reason}"
        if ended.outcome is StepOutcome.INTERRUPTED:
            outcome, error = session.broken_off(Outcome.INTERRUPTED, error)
        return replace(run, outcome=outcome, error="; ".join(e for e in (run.error, error) if e))
    if run.outcome is Outcome.OK and any(n.changed for n in notes):
        return replace(run, outcome=Outcome.CHANGED)
    return run
