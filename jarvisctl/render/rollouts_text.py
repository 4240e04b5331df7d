"""`jarvisctl rollout list|status|abort` for people and for programs: the rollouts table, one
rollout batch by batch and host by host, and their JSON documents
(render/schemas/rollout-list.schema.json, rollout-status.schema.json).

Host names, step names and reasons come from playbooks, inventories and hosts: each is shown
escaped (backups_text.escaped), so that none can break a row or drive the terminal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from jarvisctl.core.results import RolloutTurn
from jarvisctl.render.backups_text import age_text, escaped, iso, when_text
from jarvisctl.store.leases import Lease
from jarvisctl.store.rollouts import HostState, Rollout, RolloutHost, StepRecord, turn_started

SCHEMA_VERSION = 1
# a host's count: its turn's outcome (RolloutTurn) once ended, else where it stands
ENDINGS = tuple(turn.value for turn in RolloutTurn)
UNENDED = (HostState.PENDING.value, HostState.IN_FLIGHT.value, HostState.DECISION.value)
_TURN_OF = {HostState(turn.value): turn for turn in RolloutTurn}


def host_counts(hosts: Sequence[RolloutHost]) -> dict[str, int]:
    """How many hosts ended as each RolloutTurn (every outcome, 0 included), and how many are
    pending, in flight, or waiting for a decision."""
    counts = dict.fromkeys((*ENDINGS, *UNENDED), 0)
    for host in hosts:
        counts[host.state.value] += 1
    return counts


def counts_text(counts: dict[str, int]) -> str:
    shown = [f"{n} {name}" for name, n in counts.items() if n]
    return ", ".join(shown) or "no hosts"


def failed_text(hosts: Sequence[RolloutHost]) -> str:
    """How many of the hosts count against max_fail_percentage ("" none)."""
    failed = sum(1 for h in hosts if h.failed)
    return f"; {failed} counted as failed" if failed else ""


def state_text(rollout: Rollout) -> str:
    batch = (
        f" after batch {rollout.batch}"
        if rollout.batch
        and rollout.state.value
        in (
            "paused",
            "halted",
        )
        else ""
    )
    reason = f": {escaped(rollout.reason)}" if rollout.reason else ""
    return f"{rollout.state.value}{batch}{reason}"


def rollout_table(
    rollouts: Sequence[tuple[Rollout, Sequence[RolloutHost]]], now: float
) -> Iterator[str]:
    """One row per rollout: id, play, state, batch reached, started, and its hosts' counts."""
    rows = [
        (
            r.id,
            escaped(r.play),
            r.state.value,
            f"{r.batch}/{len(r.batches)}",
            f"{when_text(r.started_at)} ({age_text(now - r.started_at)} ago)",
            counts_text(host_counts(hosts)) + failed_text(hosts),
        )
        for r, hosts in rollouts
    ]
    header = ("rollout", "play", "state", "batch", "started (UTC)", "hosts")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        yield "  ".join([*cells, row[-1]])


def status_lines(
    rollout: Rollout,
    hosts: Sequence[RolloutHost],
    steps: Sequence[StepRecord],
    holder: Lease | None,
    now: float,
) -> Iterator[str]:
    """The rollout, then each batch with each host's state, where it stands, why, and until
    when it is deferred."""
    yield f"rollout {rollout.id}  play '{escaped(rollout.play)}'  {state_text(rollout)}"
    yield (
        f"  playbook {escaped(rollout.playbook)}  started {when_text(rollout.started_at)}  "
        f"updated {when_text(rollout.updated_at)}"
        + (f"  run {rollout.run_id}" if rollout.run_id else "")
    )
    if holder is not None:
        yield f"  worked on now: {holder.describe(now)}"
    yield f"  hosts: {counts_text(host_counts(hosts))}{failed_text(hosts)}"
    names = {(s.host, s.phase, s.index): s for s in steps}
    for number, batch in enumerate(_batches(rollout, hosts), start=1):
        marker = "  <- current" if number == rollout.batch else ""
        yield f"batch {number} ({len(batch)} host{'s' if len(batch) != 1 else ''}){marker}"
        for host in batch:
            yield "  " + host_line(host, names, now)


def _batches(rollout: Rollout, hosts: Sequence[RolloutHost]) -> list[list[RolloutHost]]:
    count = max([len(rollout.batches), *(h.batch for h in hosts)], default=0)
    batches: list[list[RolloutHost]] = [[] for _ in range(count)]
    for host in hosts:
        batches[host.batch - 1].append(host)
    return batches


def host_line(host: RolloutHost, steps: dict[tuple[str, str, int], StepRecord], now: float) -> str:
    parts = [escaped(host.host), host.state.value]
    if turn_started(host) and host.phase:
        parts.append(_where(host, steps))
    if host.deferred_until is not None and host.state is HostState.DEFERRED:
        parts.append(f"until {when_text(host.deferred_until)}")
    if host.failed:
        parts.append("(counted as failed)")
    text = "  ".join(parts)
    return text + (f": {escaped(host.reason)}" if host.reason else "")


def _where(host: RolloutHost, steps: dict[tuple[str, str, int], StepRecord]) -> str:
    if host.step is None:
        return f"at {host.phase}"
    record = steps.get((host.host, host.phase, host.step))
    name = f" '{escaped(record.name)}'" if record is not None else ""
    return f"at {host.phase} {host.step + 1}{name}"


def abort_lines(
    rollout: Rollout, skipped: Sequence[str], left: Sequence[RolloutHost]
) -> Iterator[str]:
    yield f"rollout {rollout.id} aborted"
    if skipped:
        yield f"  skipped (not started): {', '.join(escaped(h) for h in skipped)}"
    for host in left:
        where = f" at {host.phase}" + (f" {host.step + 1}" if host.step is not None else "")
        yield (
            f"  {escaped(host.host)}: left {host.state.value}{where}: its turn had started and "
            "its steps may have partly run"
        )


def summary_document(rollout: Rollout, hosts: Sequence[RolloutHost]) -> dict[str, Any]:
    """A rollout in `rollout list --json`."""
    return {
        "id": rollout.id,
        "play": rollout.play,
        "state": rollout.state.value,
        "reason": rollout.reason,
        "batch": rollout.batch,
        "batches": len(rollout.batches),
        "hosts": len(hosts),
        "counts": host_counts(hosts),
        "failed": sum(1 for h in hosts if h.failed),
        "started_at": iso(rollout.started_at),
        "updated_at": iso(rollout.updated_at),
        "run_id": rollout.run_id or None,
    }


def status_document(
    rollout: Rollout,
    hosts: Sequence[RolloutHost],
    steps: Sequence[StepRecord],
    holder: Lease | None,
) -> dict[str, Any]:
    """`rollout status --json`: the rollout, its batches' hosts, and each host's steps."""
    by_host: dict[str, list[StepRecord]] = {}
    for step in steps:
        by_host.setdefault(step.host, []).append(step)
    return {
        "version": SCHEMA_VERSION,
        **summary_document(rollout, hosts),
        "playbook": rollout.playbook,
        "inventory": list(rollout.inventory),
        "limit": rollout.limit,
        "plan_digest": rollout.plan_digest,
        "holder": None if holder is None else _holder_document(holder),
        "batch_hosts": [
            [_host_document(h, by_host.get(h.host, [])) for h in batch]
            for batch in _batches(rollout, hosts)
        ],
    }


def _holder_document(lease: Lease) -> dict[str, Any]:
    h = lease.holder
    return {
        "run_id": h.owner,
        "source": h.source,
        "pid": h.pid,
        "controller": h.controller,
        "expires_at": iso(lease.expires),
    }


def _host_document(host: RolloutHost, steps: Sequence[StepRecord]) -> dict[str, Any]:
    return {
        "host": host.host,
        "batch": host.batch,
        "state": host.state.value,
        "turn": _TURN_OF[host.state].value if host.state in _TURN_OF else None,
        "reason": host.reason,
        "phase": host.phase or None,
        "step": host.step,
        "deferred_until": iso(host.deferred_until),
        "attempts": host.attempts,
        "failed": host.failed,
        "updated_at": iso(host.updated_at),
        "steps": [_step_document(s) for s in steps],
    }


def _step_document(step: StepRecord) -> dict[str, Any]:
    return {
        "phase": step.phase,
        "index": step.index,
        "name": step.name,
        "state": step.state.value,
        "outcome": step.outcome or None,
        "started_at": iso(step.started_at),
        "finished_at": iso(step.finished_at),
        "starts": step.starts,
    }
