"""The rollout aggregate: a rollout's durable progress, written before and after every step so
that a controller killed at any moment resumes exactly where it stopped (`jarvisctl rollout
resume ID`), and no finished step runs twice.

A rollout has a row (its play, how to plan it again, its batches, its state), one row per host
(its batch, where its turn stands, how it ended), and one row per step a host started (started,
then done or failed). Every write is its own committed transaction: what a killed controller
wrote is on disk, what it had not written did not happen."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import Enum
from typing import Protocol

from jarvisctl.core.errors import EXIT_USAGE, JarvisError
from jarvisctl.core.events import Event, EventSink
from jarvisctl.core.frozen import frozen
from jarvisctl.core.processes import pid_alive
from jarvisctl.store.leases import Holder, Lease, Leases, LeaseStore, renewing, takeover_payload

EXIT_HELD = 8  # README's "another run holds its lease" (cli/common.py's EXIT_SKIPPED)


class UnknownRolloutError(JarvisError):
    """No rollout with that id (or unique prefix, or `last`) in the store."""

    exit_code = EXIT_USAGE  # the ID argument names none


class RolloutEndedError(JarvisError):
    """The rollout has ended (finished, halted or aborted): there is nothing left to act on."""

    exit_code = EXIT_USAGE  # the ID argument names a rollout that cannot be acted on


class RolloutHeldError(JarvisError):
    """Another controller (a live process, or a lease not yet expired) works on the rollout."""

    exit_code = EXIT_HELD


class RolloutActiveError(JarvisError):
    """A new rollout of a play whose rollout has not ended (running, paused, deferred): not
    recorded. `rollout`: that one, which a resume finishes or an abort ends."""

    exit_code = EXIT_HELD  # its hosts are skipped, as when another run holds them

    def __init__(self, rollout: Rollout) -> None:
        self.rollout = rollout
        super().__init__(
            f"rollout {rollout.id} of play {rollout.play!r} has not ended: it is "
            f"{rollout.state.value}"
        )


class RolloutState(str, Enum):
    RUNNING = "running"  # a controller works on it (or was killed while it did: resume it)
    PAUSED = "paused"  # after a batch in pause_after: `jarvisctl rollout continue ID`
    HALTED = "halted"  # max_fail_percentage crossed: no further host starts
    DEFERRED = "deferred"  # every host ended but some are deferred: finished when they return
    FINISHED = "finished"  # every host ended (none deferred)
    ABORTED = "aborted"  # `jarvisctl rollout abort ID`


# a rollout in one of these states is done with: resume and continue refuse it
ENDED = (RolloutState.HALTED, RolloutState.FINISHED, RolloutState.ABORTED)


class HostState(str, Enum):
    PENDING = "pending"  # its batch has not started
    IN_FLIGHT = "in flight"  # its turn started and has not ended (`phase`/`step` say where)
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ROLLED_BACK = "rolled back"
    ROLLBACK_FAILED = "rollback failed"
    # unreachable or held by wait_for: `deferred_until`; one that went away during its steps
    # keeps where it stood (`phase`, `step`), and its turn goes on from there
    DEFERRED = "deferred"
    SKIPPED = "skipped"  # halted or aborted before it started (`reason`)
    DECISION = "decision"  # a `once: true` step was in flight when the controller died


# a host in one of these states has had its turn: resume does not start it again
DONE = (
    HostState.UPDATED,
    HostState.UNCHANGED,
    HostState.ROLLED_BACK,
    HostState.ROLLBACK_FAILED,
    HostState.SKIPPED,
)


def turn_started(host: RolloutHost) -> bool:
    """Whether the host's turn started and has not ended: in flight (its controller was
    killed), waiting for a decision, or deferred where it stood (it went away during its
    steps: `phase` says where). Such a host's steps may have partly run."""
    if host.state is HostState.DEFERRED:
        return bool(host.phase)
    return host.state in (HostState.IN_FLIGHT, HostState.DECISION)


class StepState(str, Enum):
    STARTED = "started"  # written before the step's action runs
    DONE = "done"  # it ended ok or changed (`outcome`)
    FAILED = "failed"  # it ended failed


@frozen
class Rollout:
    """A rollout's row: its play, how to plan it again, its batches and its state."""

    id: str  # "<UTC yyyymmddThhmmssZ>-<4 hex>": sortable by start
    play: str
    playbook: str  # the playbook's path, as `resume` plans it again
    inventory: tuple[str, ...]  # the -i paths the run used ((): the project's default)
    limit: str | None
    plan_digest: str  # sha256 of the rollout's rendered steps per host: resume refuses a change
    batches: tuple[tuple[str, ...], ...]
    started_at: float
    updated_at: float
    state: RolloutState = RolloutState.RUNNING
    batch: int = 0  # the 1-based batch in progress or last finished (0: none started)
    reason: str = ""  # why it paused, halted or was aborted
    run_id: str = ""  # the run (journal) that last worked on it
    tags: tuple[str, ...] = ()  # the --tags it was started with: a resume plans them again


@frozen
class RolloutHost:
    """One host's row in a rollout: its batch, where its turn stands, and how it ended."""

    rollout: str
    host: str
    batch: int  # 1-based
    state: HostState = HostState.PENDING
    reason: str = ""
    # while in flight (or deferred in the middle of its turn): wait_for, gate_before, backup,
    # step, gate_after, rollback; and the 0-based index of the step in `phase`
    phase: str = ""
    step: int | None = None
    deferred_until: float | None = None
    attempts: int = 0  # how many runs started this host's turn
    updated_at: float = 0.0
    # its turn counts against max_fail_percentage: rolled back, rollback failed, or stopped
    # before its steps by a failed gate or backup (then SKIPPED), or unreachable with
    # `unreachable: fail`
    failed: bool = False


@frozen
class StepRecord:
    """One step a host of a rollout started, as it stands: started, then done or failed."""

    rollout: str
    host: str
    phase: str  # "step" or "rollback"
    index: int
    name: str
    state: StepState
    outcome: str = ""  # a core.results.StepOutcome value once ended
    started_at: float = 0.0
    finished_at: float | None = None
    starts: int = 1  # how many times it was started (more than 1: a run died while it ran)


def ended_text(rollout: Rollout) -> str:
    """What a rollout that has ended says of itself: its state, when, and why."""
    when = datetime.fromtimestamp(rollout.updated_at, timezone.utc)
    why = f" ({rollout.reason})" if rollout.reason else ""
    return (
        f"rollout {rollout.id} has already ended: {rollout.state.value} at "
        f"{when:%Y-%m-%d %H:%M:%S} UTC{why}"
    )


class RolloutStore(Protocol):
    @property
    def leases(self) -> Leases:
        """The rollouts' leases (keyed by rollout id): the controller working on each."""
        ...

    def create(self, rollout: Rollout, hosts: Sequence[RolloutHost]) -> None:
        """Record a new rollout and its hosts (all pending) in one transaction, unless its
        play has a rollout that has not ended (`active`): then RolloutActiveError naming it,
        and nothing is written. The look and the write are one transaction, so that of two
        controllers starting the play's rollout at once, one does and the other is refused."""
        ...

    def get(self, rollout_id: str) -> Rollout:
        """By id, unique prefix, or `last` (the most recent); UnknownRolloutError otherwise."""
        ...

    def recent(self, limit: int = 50) -> list[Rollout]:
        """The most recent first."""
        ...

    def active(self, play: str) -> Rollout | None:
        """The play's rollout that is not ENDED (running, paused, deferred), if any."""
        ...

    def update(
        self,
        rollout_id: str,
        *,
        state: RolloutState | None = None,
        batch: int | None = None,
        reason: str | None = None,
        run_id: str | None = None,
        at: float,
    ) -> Rollout:
        """Change what is given, in one transaction; the rollout as it is now."""
        ...

    def hosts(self, rollout_id: str) -> list[RolloutHost]:
        """Its hosts in batch order, then in the order they were planned."""
        ...

    def set_host(
        self,
        rollout_id: str,
        host: str,
        state: HostState,
        *,
        at: float,
        reason: str = "",
        phase: str = "",
        step: int | None = None,
        deferred_until: float | None = None,
        started: bool = False,
        failed: bool = False,
    ) -> RolloutHost:
        """A host's state (and where it is when in flight); `started` counts one more attempt;
        `failed`: its turn counts against max_fail_percentage (RolloutHost.failed)."""
        ...

    def step_started(
        self, rollout_id: str, host: str, phase: str, index: int, name: str, at: float
    ) -> None:
        """Written, and committed, before the step's action runs. A step started again (a run
        died while it ran) is started anew and counts one more start."""
        ...

    def step_finished(
        self,
        rollout_id: str,
        host: str,
        phase: str,
        index: int,
        state: StepState,
        outcome: str,
        at: float,
    ) -> None:
        """Written, and committed, as soon as the step ended."""
        ...

    def steps(self, rollout_id: str, host: str | None = None) -> list[StepRecord]:
        """The steps started, in the order they started (one host's, or all)."""
        ...


@contextmanager
def hold_rollout(
    rollouts: RolloutStore,
    rollout_id: str,
    holder: Holder,
    events: EventSink,
    *,
    ttl: float,
    clock: Callable[[], float] = time.time,
    alive: Callable[[int], bool] = pid_alive,
) -> Iterator[None]:
    """Hold the rollout's lease for the block (renewed in the background, released after), so
    that two controllers never work on one rollout at once. A lease whose holder is gone
    (expired, or its process on this controller died: a controller killed mid-rollout) is
    taken over, which is a lease_takeover event; one held by a live holder is a
    RolloutHeldError naming it."""
    leases = LeaseStore(rollouts.leases, ttl, clock, alive)
    claim = leases.acquire([rollout_id], holder)
    now = leases.clock()
    if rollout_id in claim.refused:
        raise RolloutHeldError(_held(rollout_id, claim.refused[rollout_id], now))
    for old in claim.taken_over.values():
        events.emit(Event(takeover_payload(old, now)))
    with renewing(leases, claim.granted, holder.owner):
        yield


def _held(rollout_id: str, lease: Lease, now: float) -> str:
    return (
        f"rollout {rollout_id} is being worked on: {lease.describe(now)}; wait for it to end, "
        "or, if that process is gone from another controller, for its lease to expire"
    )
