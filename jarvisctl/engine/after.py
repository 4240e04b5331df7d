"""What a host's session does after its checks and remediations: its backups (on the same
connection), then the checks measured on the controller (backup freshness), which must see the
backups this run just took."""

from __future__ import annotations

from dataclasses import replace

from jarvisctl.connection.base import Connection
from jarvisctl.core.results import CheckResult, HostRun, Outcome
from jarvisctl.engine.backups import BackupWork, not_attempted, take_backups
from jarvisctl.engine.freshness import backup_freshness
from jarvisctl.engine.session import Session, emit_check, remember
from jarvisctl.engine.sides import on_controller
from jarvisctl.plan.model import CheckPlan

# sessions whose host was not worked on, or is gone: no backup is attempted on them
NOT_WORKED_ON = (Outcome.UNREACHABLE, Outcome.INTERRUPTED, Outcome.SKIPPED)


def finish_host(
    session: Session, run: HostRun, connection: Connection | None, work: BackupWork
) -> HostRun:
    """The host's run with its backups and its controller-side checks added."""
    host = session.host
    if host.backups and run.outcome is not Outcome.SKIPPED:
        if connection is not None and run.outcome not in NOT_WORKED_ON:
            run = take_backups(session, connection, run, work)
        else:
            run = not_attempted(session, run)
    controller = on_controller(session.registry, host.checks)
    if controller and connection is not None:  # the host's own checks ran
        run = _controller_checks(session, run, controller, work)
    return run


def _controller_checks(
    session: Session, run: HostRun, checks: tuple[CheckPlan, ...], work: BackupWork
) -> HostRun:
    host, play, now = session.host.host, session.play.name, session.clock.now()
    results: tuple[CheckResult, ...] = tuple(
        backup_freshness(c, host, work.index, now) for c in checks
    )
    try:
        if session.store is not None:
            results = remember(session.store, host, play, checks, results, now)
    except Exception as exc:  # the state store failed: this host's failure, as in its checks
        outcome, error = session.broken_off(Outcome.FAILED, f"{type(exc).__name__}: {exc}")
        return replace(run, outcome=outcome, error=error)
    for result in results:
        emit_check(session, result)
    found = {c.name: c for c in run.checks} | {r.name: r for r in results}
    ordered = tuple(found[c.name] for c in session.host.checks if c.name in found)
    return replace(run, checks=ordered)
