"""The halt rule of a rollout: max_fail_percentage of the hosts attempted so far."""

from __future__ import annotations

import pytest

from jarvisctl.engine.rollout_rules import crossed, failure_share
from jarvisctl.plan.model import RolloutPlan
from jarvisctl.store.rollouts import HostState, RolloutHost


def plan(limit: float) -> RolloutPlan:
    return RolloutPlan(
        batches=(("a",), ("b", "c", "d"), ("e", "f", "g", "h")),
        max_fail_percentage=limit,
        unreachable="defer",
        pause_after=(),
        gate=(),
        settle=0.0,
        gate_timeout=10.0,
        wait_for=(),
        wait_timeout=10.0,
        backup=(),
        defer_for=3600.0,
    )


def host(name: str, state: HostState, failed: bool = False) -> RolloutHost:
    return RolloutHost("r", name, 1, state, failed=failed)


def test_only_hosts_whose_turn_ended_are_attempted() -> None:
    hosts = [
        host("a", HostState.UPDATED),
        host("b", HostState.ROLLED_BACK, failed=True),
        host("c", HostState.SKIPPED, failed=True),  # its gate before failed: it counts
        host("d", HostState.SKIPPED),  # halted before it started: it does not
        host("e", HostState.DEFERRED),
        host("f", HostState.PENDING),
        host("g", HostState.IN_FLIGHT),
        host("h", HostState.UNCHANGED),
    ]
    assert failure_share(hosts) == (2, 4)


@pytest.mark.parametrize(
    ("limit", "failed", "attempted", "halts"),
    [
        (0, 0, 0, False),  # nothing attempted yet
        (0, 0, 4, False),
        (0, 1, 1, True),  # any failure halts by default: a bad canary stops the rollout
        (20, 2, 4, True),  # two of batch 2 failed: 50% > 20%
        (25, 1, 4, False),  # exactly the limit is not crossing it
        (100, 4, 4, False),
    ],
)
def test_crossing_the_limit_halts(limit: float, failed: int, attempted: int, halts: bool) -> None:
    assert crossed(plan(limit), failed, attempted) is halts
