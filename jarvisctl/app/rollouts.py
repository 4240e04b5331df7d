"""What `jarvisctl rollout list|status|abort` do: read the rollouts' durable progress from the
store (a reader never creates, migrates or writes it), and abort one, recorded as a run (its
own audit journal: app/backup_journal.py) holding the rollout's lease, so that an abort never
races a controller working on the rollout.

Abort ends a rollout that has not ended (running with no live controller, paused, or waiting
for deferred hosts): every host that has not started (pending, deferred) is skipped with the
reason "aborted"; a host whose turn had started and not ended (in flight when its controller was
killed, waiting for a decision, or deferred where it stood when it went away during its steps)
is left as it was, and said so: its steps may have partly
run, and only the rollout engine's rollback may undo them.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jarvisctl.app.backup_journal import ActionLog, ActionRequest, backup_action
from jarvisctl.config.project import Project
from jarvisctl.core.events import Event
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import RolloutTurn
from jarvisctl.core.secrets import SecretValues
from jarvisctl.core.step_events import Rollout as RolloutEvent
from jarvisctl.core.step_events import RolloutHost as RolloutHostEvent
from jarvisctl.store.base import Store

if TYPE_CHECKING:
    from jarvisctl.app.run import RunContext
    from jarvisctl.core.results import RunReport
from jarvisctl.store.factory import open_store
from jarvisctl.store.leases import Holder, Lease, abandoned
from jarvisctl.store.rollouts import (
    ENDED,
    HostState,
    Rollout,
    RolloutEndedError,
    RolloutHeldError,
    RolloutHost,
    RolloutState,
    StepRecord,
    ended_text,
    hold_rollout,
    turn_started,
)

ABORTED = "aborted"  # the reason a host skipped by an abort gives
# hosts an abort skips: their turn has not started
NOT_STARTED = (HostState.PENDING, HostState.DEFERRED)


@frozen
class RolloutSummary:
    """A rollout and its hosts, as `rollout list` shows them."""

    rollout: Rollout
    hosts: tuple[RolloutHost, ...]


@frozen
class RolloutStatus:
    """Everything `rollout status` shows: the rollout, each host and each step started, and
    the controller working on it now (its lease, unless that expired or its process died), if
    one does."""

    rollout: Rollout
    hosts: tuple[RolloutHost, ...]
    steps: tuple[StepRecord, ...]
    holder: Lease | None


def list_rollouts(project: Project, limit: int = 50) -> tuple[RolloutSummary, ...]:
    """The most recent rollouts first."""
    with _reader(project) as store:
        found = store.rollouts.recent(limit)
        return tuple(RolloutSummary(r, tuple(store.rollouts.hosts(r.id))) for r in found)


def rollout_status(project: Project, rollout_id: str, now: float | None = None) -> RolloutStatus:
    """The rollout `rollout_id` names (an id, a unique start of one, or `last`); an
    UnknownRolloutError (exit 2) when it names none."""
    at = time.time() if now is None else now
    with _reader(project) as store:
        rollout = store.rollouts.get(rollout_id)
        holder = next(
            (
                lease
                for lease in store.rollouts.leases.all()
                if lease.host == rollout.id and not abandoned(lease, at)
            ),
            None,
        )
        return RolloutStatus(
            rollout,
            tuple(store.rollouts.hosts(rollout.id)),
            tuple(store.rollouts.steps(rollout.id)),
            holder,
        )


@frozen
class AbortRequest:
    rollout: str  # an id, a unique start of one, or `last`
    arguments: tuple[str, ...] = ()  # the command line, for the journal


@frozen
class AbortReport:
    """How an abort ended: the rollout as it is now, the hosts it skipped, those it left as
    they were (started, not ended), or why it was refused (another controller holds it)."""

    rollout: Rollout
    skipped: tuple[str, ...]
    left: tuple[RolloutHost, ...]
    run_id: str
    refused: str = ""

    @property
    def ok(self) -> bool:
        return not self.refused


def abort_rollout(project: Project, request: AbortRequest, secrets: SecretValues) -> AbortReport:
    """Abort the rollout `request` names; a rollout that has ended is a RolloutEndedError
    (exit 2) and nothing is recorded; one held by a live controller is refused, recorded as a
    run whose hosts were skipped (exit 8)."""
    with _writer(project) as store:
        rollout = _not_ended(store.rollouts.get(request.rollout))
        waiting = _not_started(store.rollouts.hosts(rollout.id))
    journal = ActionRequest(request.arguments, waiting, play=rollout.play)
    with backup_action(project, journal, secrets) as log:
        holder = Holder(log.run_id, "cli")
        try:
            with hold_rollout(
                log.store.rollouts, rollout.id, holder, log.events, ttl=project.config.lease_ttl
            ):
                return _abort(log, rollout.id)
        except RolloutHeldError as exc:
            for host in waiting:
                log.outcome(host, "skipped", str(exc))
            return AbortReport(rollout, (), (), log.run_id, refused=str(exc))


def continue_rollout(
    project: Project,
    rollout_id: str,
    context: RunContext,
    forks: int | None = None,
    arguments: tuple[str, ...] = (),
) -> RunReport:
    """Go on with a rollout paused after a batch: a run of its play, which the rollout engine
    (app/rollout_run.py) marks running again and takes on from its next batch; a rollout that
    is not paused is a UsageError saying what would go on with it."""
    from jarvisctl.app.rollout_run import resume_rollout

    return resume_rollout(
        project, rollout_id, context, continuing=True, forks=forks, arguments=arguments
    )


def _abort(log: ActionLog, rollout_id: str) -> AbortReport:
    """Under the rollout's lease: read it again (a controller may have moved it on while the
    lease was awaited), skip each host not started, then mark the rollout aborted (in that
    order: an abort killed half-way leaves a rollout that has not ended, to abort again)."""
    rollouts = log.store.rollouts
    rollout = _not_ended(rollouts.get(rollout_id))
    hosts = rollouts.hosts(rollout_id)
    skipped: list[str] = []
    for host in hosts:
        if _waiting(host):
            rollouts.set_host(
                rollout_id, host.host, HostState.SKIPPED, at=time.time(), reason=ABORTED
            )
            turn = RolloutHostEvent(rollout_id, host.batch, RolloutTurn.SKIPPED.value, ABORTED)
            log.events.emit(Event(turn, host.host, rollout.play))
            skipped.append(host.host)
    reason = f"aborted by {_user()} (jarvisctl rollout abort)"
    now = rollouts.update(
        rollout_id, state=RolloutState.ABORTED, reason=reason, run_id=log.run_id, at=time.time()
    )
    event = RolloutEvent(rollout_id, ABORTED, now.batch, tuple(skipped), reason=reason)
    log.events.emit(Event(event, None, rollout.play))
    left = tuple(h for h in hosts if turn_started(h))
    return AbortReport(now, tuple(skipped), left, log.run_id)


def _not_ended(rollout: Rollout) -> Rollout:
    if rollout.state in ENDED:
        raise RolloutEndedError(
            f"{ended_text(rollout)}; only a rollout that is {', '.join(_open_states())} can "
            "be aborted"
        )
    return rollout


def _open_states() -> list[str]:
    return [s.value for s in RolloutState if s not in ENDED]


def _not_started(hosts: Sequence[RolloutHost]) -> tuple[str, ...]:
    return tuple(h.host for h in hosts if _waiting(h))


def _waiting(host: RolloutHost) -> bool:
    """Its turn has not started: pending, or deferred before it started."""
    return host.state in NOT_STARTED and not turn_started(host)


def _reader(project: Project) -> Store:
    """Never created, migrated or written: a full or read-only state directory still reads."""
    return open_store(project.state_dir, readonly=True)


def _writer(project: Project) -> Store:
    return open_store(project.state_dir, lock_timeout=project.config.timeouts.state_lock)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
