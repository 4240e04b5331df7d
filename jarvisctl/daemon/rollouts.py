"""The daemon finishes deferred rollouts: when one of its runs reaches a host that a rollout
deferred (it was unreachable, or held by `wait_for`), and that rollout waits only for such
hosts (its state is `deferred`), the daemon resumes it at once, as `jarvisctl rollout resume`
would, within each host's `defer_for`; one whose deferred host is past its `defer_for` is
resumed as well, so that the rollout ends that host (failed: it never came back) and says so,
instead of waiting for ever. A rollout paused, halted or held by another controller
is never touched: those wait for an operator."""

from __future__ import annotations

import time
from collections.abc import Callable

from jarvisctl.app.run import RunContext
from jarvisctl.config.project import Project
from jarvisctl.core.errors import JarvisError
from jarvisctl.core.results import CUT_SHORT, RunReport
from jarvisctl.daemon.logs import EventLog
from jarvisctl.store.factory import open_store
from jarvisctl.store.rollouts import HostState, RolloutHost, RolloutState

RECENT = 50  # the most recent rollouts looked at after each run


def waiting_for(
    project: Project, reached: set[str], now: float, plays: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """The deferred rollouts that wait for some of the `reached` hosts, or whose own play
    the run was (its hosts skipped while the rollout waits: its schedule is when to try its
    deferred hosts again), or one of whose deferred hosts is past its deadline (resumed, the
    rollout ends it: it never came back): id -> those hosts."""
    found: dict[str, list[str]] = {}
    with open_store(project.state_dir, readonly=True) as store:
        for rollout in store.rollouts.recent(RECENT):
            if rollout.state is not RolloutState.DEFERRED:
                continue
            own = rollout.play in plays
            deferred = [
                h for h in store.rollouts.hosts(rollout.id) if h.state is HostState.DEFERRED
            ]
            back = [h.host for h in deferred if (own or h.host in reached or _expired(h, now))]
            if back:
                found[rollout.id] = back
    return found


def _expired(host: RolloutHost, now: float) -> bool:
    return host.deferred_until is not None and now > host.deferred_until


def finish_deferred(
    project: Project,
    report: RunReport,
    context: Callable[[str], RunContext],
    log: EventLog,
    now: float | None = None,
) -> list[str]:
    """After a daemon run: resume each deferred rollout waiting for a host this run reached,
    or whose own play the run was.
    The ids of the rollouts resumed; whatever fails is logged, never raised (the daemon goes
    on). `context(rollout_id)`: the run context of the resume."""
    reached = {run.host for run in report.hosts if run.outcome not in CUT_SHORT}
    plays = frozenset(run.play for run in report.hosts)
    try:
        waiting = waiting_for(project, reached, time.time() if now is None else now, plays)
    except JarvisError as exc:
        log.error("rollout_resume_error", error=str(exc))
        return []
    if not waiting:
        return []
    from jarvisctl.app.rollout_run import resume_rollout  # only when a rollout waits

    resumed = []
    for rollout_id, hosts in waiting.items():
        log.info("rollout_resuming", rollout=rollout_id, hosts=",".join(hosts))
        try:
            done = resume_rollout(
                project,
                rollout_id,
                context(rollout_id),
                arguments=("daemon", f"--resume-rollout={rollout_id}"),
                source="daemon",
            )
        except JarvisError as exc:  # paused meanwhile, held by another controller, replanned
            log.warning("rollout_not_resumed", rollout=rollout_id, reason=str(exc))
            continue
        except Exception as exc:  # a daemon outlives a bug in one resume; the line says which
            error = f"{type(exc).__name__}: {exc}"
            log.error("rollout_resume_error", rollout=rollout_id, error=error)
            continue
        status = done.status.value
        log.info("rollout_resumed", rollout=rollout_id, run_id=done.run_id, status=status)
        resumed.append(rollout_id)
    return resumed
