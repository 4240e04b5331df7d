"""A play's `rollout:` resolved: its batches of hosts, and the names it refers to checked.

Batches follow Ansible's `serial`: each size is a count of hosts or a share of the play's
selected hosts (`--limit` included), a share rounded down but at least 1 host; the last size
repeats until every host has had its turn, and a batch takes what is left when fewer remain.
`[1, 3, "100%"]` over 8 hosts gives 1, 3 and 4; `["25%"]` over 10 gives five batches of 2.
A share is counted in whole numbers, where ansible-core's float arithmetic rounds some exact
shares down (its 29% of 100 hosts is 28); tests/unit/test_rollout_plan.py compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jarvisctl.config.models.values import parse_batch_size
from jarvisctl.config.playbooks import LoadedPlay
from jarvisctl.config.yamlsrc import SourceMap
from jarvisctl.core.errors import ProblemCollector, known_list
from jarvisctl.plan.model import RolloutPlan

if TYPE_CHECKING:  # built only for a play that has a rollout
    from jarvisctl.config.models.steps import RolloutSpec


def batch_size(size: int | str, hosts: int) -> int:
    """How many hosts a batch of `size` takes out of a play of `hosts` hosts."""
    number, percent = parse_batch_size(size)
    if not percent:
        return number
    return max(1, number * hosts // 100)


def plan_batches(sizes: Sequence[int | str], hosts: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """The hosts of each batch, in the order given (the inventory's)."""
    batches: list[tuple[str, ...]] = []
    taken = 0
    while taken < len(hosts):
        size = batch_size(sizes[min(len(batches), len(sizes) - 1)], len(hosts))
        batches.append(tuple(hosts[taken : taken + size]))
        taken += size
    return tuple(batches)


def check_rollout(
    item: LoadedPlay,
    source: SourceMap,
    checks: frozenset[str],
    backups: frozenset[str],
    play_hosts: int,
    problems: ProblemCollector,
) -> None:
    """The names the rollout refers to, and its pause numbers, each located where written.

    `pause_after` is checked against the batches of all the play's hosts, without --limit,
    so that a canary run on a few hosts does not make the playbook wrong."""
    rollout = item.play.rollout
    if rollout is None:
        return
    path = (item.index, "rollout")
    for key, known, what in (
        ("gate", checks, "check"),
        ("wait_for", checks, "check"),
        ("backup", backups, "backup"),
    ):
        names: list[str] = getattr(rollout, key)
        for number, name in enumerate(names):
            if name not in known:
                problems.add(
                    source.locate((*path, key, number)),
                    f"{key}: '{name}' is not a {what} of this play",
                    f"a {what}'s name in the play's {what}s:; {known_list(known, near=name)}",
                )
    if play_hosts:
        count = len(plan_batches(rollout.batches, [""] * play_hosts))
        for number, batch in enumerate(rollout.pause_after):
            if batch > count:
                problems.add(
                    source.locate((*path, "pause_after", number)),
                    f"pause_after: there is no batch {batch}: the play's {play_hosts} host(s) "
                    f"make {count} batch(es) of {_sizes(rollout)}",
                    f"a batch number from 1 to {count}",
                )


def plan_rollout(
    spec: RolloutSpec, hosts: Sequence[str], source: SourceMap, index: int
) -> RolloutPlan:
    batches = plan_batches(spec.batches, hosts)
    return RolloutPlan(
        batches=batches,
        max_fail_percentage=spec.max_fail_percentage,
        unreachable=spec.unreachable,
        # under --limit there may be fewer batches: a pause after one that is not there is moot
        pause_after=tuple(sorted({n for n in spec.pause_after if n <= len(batches)})),
        gate=tuple(spec.gate),
        settle=spec.settle,
        gate_timeout=spec.gate_timeout,
        wait_for=tuple(spec.wait_for),
        wait_timeout=spec.wait_timeout,
        backup=tuple(spec.backup),
        defer_for=spec.defer_for,
        location=source.locate((index, "rollout")),
    )


def _sizes(rollout: RolloutSpec) -> str:
    return "[" + ", ".join(str(size) for size in rollout.batches) + "]"
