"""The payloads of the step and rollout events (their kinds are core/events.py's EventKind.STEP,
GATE, ROLLOUT and ROLLOUT_HOST): every step, gate, batch and host turn of a run's tasks and
rollouts, in the audit journal and the run's report. Commands in them are redacted by the
journal like every other command; a copy's content is never in them."""

from __future__ import annotations

from typing import ClassVar

from jarvisctl.core.events import EventKind, Fields
from jarvisctl.core.frozen import frozen


@frozen
class Step(Fields):
    """One step on a host (the event's host and play), once it ended. `phase`: task, step or
    rollback; `index` 0-based in its list; `outcome` a core.results.StepOutcome value;
    `attempts`: how many times its action ran; `rollout`: the rollout's id ("" for tasks)."""

    kind: ClassVar[EventKind] = EventKind.STEP
    phase: str
    index: int
    name: str
    step_kind: str
    outcome: str
    reason: str
    attempts: int
    commands: tuple[str, ...]
    exit_codes: tuple[int | None, ...]
    seconds: float
    rollout: str = ""


@frozen
class Gate(Fields):
    """A rollout's gate on a host: `when` is before, after, after_rollback or wait_for;
    `checks` the check names and `statuses` what each was at the end; `passed` and why not."""

    kind: ClassVar[EventKind] = EventKind.GATE
    rollout: str
    when: str
    checks: tuple[str, ...]
    statuses: tuple[str, ...]
    passed: bool
    reason: str
    seconds: float


@frozen
class Rollout(Fields):
    """A rollout's own progress (the event's play; no host): `state` is started, resumed,
    batch_started, batch_finished, paused, halted, finished or aborted; `batch` the 1-based
    batch it concerns (0: none); `hosts` the batch's hosts; `failed`/`attempted` the counts
    max_fail_percentage is measured on; `reason` why it paused, halted or was aborted."""

    kind: ClassVar[EventKind] = EventKind.ROLLOUT
    rollout: str
    state: str
    batch: int = 0
    hosts: tuple[str, ...] = ()
    failed: int = 0
    attempted: int = 0
    reason: str = ""


@frozen
class RolloutHost(Fields):
    """How a host's turn ended (a core.results.RolloutTurn value), and why."""

    kind: ClassVar[EventKind] = EventKind.ROLLOUT_HOST
    rollout: str
    batch: int
    turn: str
    reason: str
