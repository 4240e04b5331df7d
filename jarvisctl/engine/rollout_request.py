"""How a run was asked for, as a rollout keeps it: small, so that a run without a rollout
imports nothing of the rollout's engine (engine/rollout.py)."""

from __future__ import annotations

from jarvisctl.core.frozen import frozen


@frozen
class RolloutRequest:
    """Kept with a new rollout so that `resume` plans it again (`playbook`: the rollout's
    playbook file; the engine fills it in per play); `resume`: the id of the rollout to go on
    with (its play's run then resumes it, or aborts it: `abort`)."""

    playbook: str = ""
    inventory: tuple[str, ...] = ()
    limit: str | None = None
    tags: tuple[str, ...] = ()
    resume: str | None = None
    run_id: str = ""
    # `jarvisctl rollout abort ID --rollback`: the rollback of every host the rollout changed
    # (updated, or in flight), then the rollout is aborted; no host's steps run
    abort: bool = False
    # `rollout resume ID --done HOST`: the `once: true` step that was in flight on HOST when its
    # controller died did complete (an operator checked): recorded done, and HOST goes on
    decided: tuple[str, ...] = ()
    # the run's secret values: scrubbed from what the rollout's durable progress keeps
    secrets: frozenset[str] = frozenset()
