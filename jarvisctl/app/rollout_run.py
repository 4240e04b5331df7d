"""Going on with a rollout: `jarvisctl rollout resume ID` (a rollout whose controller was
killed or stopped, or whose deferred hosts are back), `rollout continue ID` (a rollout paused
after a batch) and `rollout abort ID [--rollback]`.

A resume plans the rollout's play again from the files and the inventory it was started with,
and refuses when its hosts, batches or rendered steps differ from what the rollout recorded:
finishing a rollout with other steps than those its first hosts ran would leave a fleet that
no one planned. Then it is an ordinary run of that play, which the engine knows to resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from jarvisctl.app.run import RunContext, RunRequest, plan_request, run_playbooks
from jarvisctl.config.project import Project
from jarvisctl.core.errors import UsageError
from jarvisctl.core.results import RunReport
from jarvisctl.engine.rollout_record import rollout_digest
from jarvisctl.plan.model import Plan, PlayPlan
from jarvisctl.store.factory import open_store
from jarvisctl.store.rollouts import (
    ENDED,
    HostState,
    Rollout,
    RolloutEndedError,
    RolloutState,
    ended_text,
)


def load_rollout(project: Project, rollout_id: str) -> Rollout:
    """The rollout by id, unique prefix or `last` (UnknownRolloutError, exit 2, otherwise)."""
    with open_store(project.state_dir, readonly=True) as store:
        return store.rollouts.get(rollout_id)


def resume_rollout(
    project: Project,
    rollout_id: str,
    context: RunContext,
    *,
    continuing: bool = False,
    done: tuple[str, ...] = (),
    forks: int | None = None,
    arguments: tuple[str, ...] = (),
    source: str = "cli",
) -> RunReport:
    """Finish the rollout (`continuing`: a paused one goes on with its next batch; `done`:
    hosts waiting for a decision whose `once: true` step did complete)."""
    record = load_rollout(project, rollout_id)
    _check_state(record, continuing)
    _check_decisions(project, record, done)
    request = RunRequest(
        playbooks=(Path(record.playbook),),
        inventory=tuple(Path(path) for path in record.inventory),
        limit=record.limit,
        tags=record.tags,
        forks=forks,
        arguments=arguments,
        play=record.play,
        resume_rollout=record.id,
        decided=done,
        source=source,
    )
    plan = plan_request(project, request, context.secrets)
    _check_unchanged(record, _play(plan, record))
    report = run_playbooks(project, replace(request, plan=plan), context)
    _ended_elsewhere(project, record.id, report, "continue" if continuing else "resume")
    return report


def _ended_elsewhere(project: Project, rollout_id: str, report: RunReport, verb: str) -> None:
    """The rollout ended (another controller halted, finished or aborted it) after it was
    looked at and before this run held it: the run did nothing, and that is said plainly (a
    RolloutEndedError, exit 2), not as every host skipped."""
    now = load_rollout(project, rollout_id)
    if now.state in ENDED and now.run_id != report.run_id:
        raise RolloutEndedError(
            f"{ended_text(now)}; there was nothing to {verb}: run {report.run_id} found it "
            "so and did nothing"
        )


def _check_decisions(project: Project, record: Rollout, done: tuple[str, ...]) -> None:
    if not done:
        return
    with open_store(project.state_dir, readonly=True) as store:
        waiting = {h.host for h in store.rollouts.hosts(record.id) if h.state is HostState.DECISION}
    for host in done:
        if host not in waiting:
            which = ", ".join(sorted(waiting)) or "none"
            raise UsageError(
                f"--done {host}: {host} is not waiting for a decision in rollout {record.id} "
                f"(those that are: {which})"
            )


def abort_with_rollback(
    project: Project,
    rollout_id: str,
    context: RunContext,
    *,
    forks: int | None = None,
    arguments: tuple[str, ...] = (),
) -> RunReport:
    """`jarvisctl rollout abort ID --rollback`: the rollback steps (then the gate) on every
    host the rollout changed or was changing, then the rollout is aborted; hosts that had not
    started never will. A run, recorded like any other."""
    record = load_rollout(project, rollout_id)
    if record.state in ENDED:
        raise RolloutEndedError(
            f"{ended_text(record)}; there is nothing to abort (a rollback of a finished "
            "rollout is a new rollout of the old version)"
        )
    request = RunRequest(
        playbooks=(Path(record.playbook),),
        inventory=tuple(Path(path) for path in record.inventory),
        limit=record.limit,
        tags=record.tags,
        forks=forks,
        arguments=arguments,
        play=record.play,
        resume_rollout=record.id,
        abort_rollout=True,
    )
    plan = plan_request(project, request, context.secrets)
    _check_unchanged(record, _play(plan, record))
    report = run_playbooks(project, replace(request, plan=plan), context)
    _ended_elsewhere(project, record.id, report, "abort")
    return report


def _check_state(record: Rollout, continuing: bool) -> None:
    name = f"rollout {record.id}"
    if record.state in ENDED:
        verb = "continue" if continuing else "resume"
        raise RolloutEndedError(
            f"{ended_text(record)}; there is nothing to {verb} (a new `jarvisctl run` of "
            "its play starts a new rollout)"
        )
    if record.state is RolloutState.PAUSED and not continuing:
        raise UsageError(
            f"{name} is paused ({record.reason}); `jarvisctl rollout continue {record.id}` "
            "goes on with its next batch"
        )
    if continuing and record.state is not RolloutState.PAUSED:
        raise UsageError(
            f"{name} is {record.state.value}, not paused; `jarvisctl rollout resume "
            f"{record.id}` finishes it"
        )


def _play(plan: Plan, record: Rollout) -> PlayPlan:
    for book in plan.playbooks:
        for play in book.plays:
            if play.name == record.play and play.rollout is not None:
                return play
    raise UsageError(
        f"rollout {record.id}: the play {record.play!r} with a rollout is no longer in "
        f"{record.playbook}; abort it with `jarvisctl rollout abort {record.id}`"
    )


def _check_unchanged(record: Rollout, play: PlayPlan) -> None:
    if rollout_digest(play) != record.plan_digest:
        raise UsageError(
            f"rollout {record.id}: its play {record.play!r} plans differently now than when the "
            f"rollout started (its hosts, batches or rendered steps changed in {record.playbook}, "
            "the inventory or the files it copies); finishing it with other steps than its "
            f"first hosts ran is refused: abort it (`jarvisctl rollout abort {record.id}`) and "
            "start a new rollout with a new run"
        )
