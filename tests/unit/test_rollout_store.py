"""The rollout store on a real SQLite state file: a rollout and its hosts recorded together,
found by id, unique prefix or `last`, each host's turn and each step's start and end written as
they happen and read back in order; and the rollout's lease, held by one controller at a time."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from jarvisctl.core.events import LEASE_TAKEOVER, Collector
from jarvisctl.store.factory import open_store
from jarvisctl.store.leases import Holder
from jarvisctl.store.rollouts import (
    HostState,
    Rollout,
    RolloutActiveError,
    RolloutHeldError,
    RolloutHost,
    RolloutState,
    RolloutStore,
    StepRecord,
    StepState,
    UnknownRolloutError,
    hold_rollout,
)
from jarvisctl.store.sqlite import schema

T0 = 1_800_000_000.0


def rollout(rid: str, *, play: str = "inference", at: float = 0.0) -> Rollout:
    return Rollout(
        id=rid,
        play=play,
        playbook="playbooks/inference.yml",
        inventory=("inventory/prod.yml",),
        limit="jetsons",
        plan_digest="ab" * 32,
        batches=(("j1",), ("j2", "j3")),
        started_at=T0 + at,
        updated_at=T0 + at,
    )


def hosts(rid: str) -> list[RolloutHost]:
    return [
        RolloutHost(rid, "j1", 1, updated_at=T0),
        RolloutHost(rid, "j3", 2, updated_at=T0),  # planned order, not name order
        RolloutHost(rid, "j2", 2, updated_at=T0),
    ]


@pytest.fixture
def store(tmp_path: Path) -> RolloutStore:
    rollouts = open_store(tmp_path).rollouts
    rollouts.create(rollout("20261204T050000Z-aaaa"), hosts("20261204T050000Z-aaaa"))
    return rollouts


RID = "20261204T050000Z-aaaa"


def test_a_rollout_and_its_hosts_read_back_as_recorded(store: RolloutStore) -> None:
    assert store.get(RID) == rollout(RID)
    assert store.hosts(RID) == hosts(RID)
    assert store.steps(RID) == []


def test_get_takes_an_id_a_unique_prefix_or_last(store: RolloutStore) -> None:
    store.create(rollout("20261204T060000Z-bbbb", play="b", at=3600), [])
    store.create(rollout("20261203T060000Z-cccc", play="c", at=-3600), [])
    assert store.get("last").id == "20261204T060000Z-bbbb"
    assert store.get("20261204T05").id == RID
    assert store.get("20261203").id == "20261203T060000Z-cccc"
    with pytest.raises(UnknownRolloutError, match="is the start of 2 rollout ids"):
        store.get("20261204")
    with pytest.raises(UnknownRolloutError, match="no rollout 'nope' in the store"):
        store.get("nope")
    with pytest.raises(UnknownRolloutError, match="no rollout '2026120_' in the store"):
        store.get("2026120_")  # LIKE's wildcards are matched as written
    assert [r.id for r in store.recent()] == [
        "20261204T060000Z-bbbb",
        RID,
        "20261203T060000Z-cccc",
    ]
    assert [r.id for r in store.recent(limit=1)] == ["20261204T060000Z-bbbb"]


def test_last_in_an_empty_store_says_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(UnknownRolloutError, match="no rollout recorded yet"):
        open_store(tmp_path).rollouts.get("last")


def test_update_changes_only_what_is_given(store: RolloutStore) -> None:
    paused = store.update(
        RID, state=RolloutState.PAUSED, batch=1, reason="pause_after 1", at=T0 + 5
    )
    assert (paused.state, paused.batch, paused.reason, paused.run_id) == (
        RolloutState.PAUSED,
        1,
        "pause_after 1",
        "",
    )
    again = store.update(RID, run_id="run-2", at=T0 + 9)
    assert (again.state, again.batch, again.reason, again.run_id, again.updated_at) == (
        RolloutState.PAUSED,
        1,
        "pause_after 1",
        "run-2",
        T0 + 9,
    )
    assert store.get(RID) == again
    with pytest.raises(UnknownRolloutError, match="no rollout 'zzz'"):
        store.update("zzz", state=RolloutState.ABORTED, at=T0)


def test_active_is_the_plays_rollout_not_ended(store: RolloutStore) -> None:
    assert store.active("inference") == store.get(RID)
    assert store.active("other") is None
    store.update(RID, state=RolloutState.DEFERRED, at=T0 + 1)
    assert store.active("inference") is not None  # deferred hosts are still to finish
    store.update(RID, state=RolloutState.FINISHED, at=T0 + 2)
    assert store.active("inference") is None


def test_a_play_with_a_rollout_not_ended_cannot_start_another(store: RolloutStore) -> None:
    second = "20261204T060000Z-bbbb"
    for state in (RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.DEFERRED):
        store.update(RID, state=state, at=T0 + 1)
        with pytest.raises(RolloutActiveError) as refused:
            store.create(rollout(second), hosts(second))
        assert refused.value.rollout.id == RID and refused.value.rollout.state is state
        assert RID in str(refused.value)
        with pytest.raises(UnknownRolloutError):
            store.get(second)  # nothing of it was written
    store.create(rollout(second, play="another play"), hosts(second))  # another play may
    store.update(RID, state=RolloutState.HALTED, at=T0 + 2)
    third = "20261204T070000Z-cccc"
    store.create(rollout(third), hosts(third))  # once it has ended, a new one starts
    assert store.active("inference") == store.get(third)


def test_of_many_controllers_starting_a_plays_rollout_at_once_one_does(tmp_path: Path) -> None:
    """Each thread is a controller with its own connection to the state file; they all try
    to start a rollout of the same play at the same moment: exactly one is recorded, and every
    other one is refused naming it."""
    state = tmp_path / "state"
    open_store(state).rollouts.recent()  # created and migrated before the race
    racers = 8
    start = threading.Barrier(racers)
    won: list[str] = []
    refused: list[str] = []

    def controller(number: int) -> None:
        rollouts = open_store(state).rollouts
        rid = f"20261204T050000Z-{number:04x}"
        start.wait()
        try:
            rollouts.create(rollout(rid), hosts(rid))
        except RolloutActiveError as exc:
            refused.append(exc.rollout.id)
        else:
            won.append(rid)

    threads = [threading.Thread(target=controller, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(won) == 1, won
    assert refused == won * (racers - 1)
    assert [r.id for r in open_store(state).rollouts.recent()] == won


def test_a_hosts_turn_is_written_with_where_it_stands(store: RolloutStore) -> None:
    flight = store.set_host(
        RID, "j1", HostState.IN_FLIGHT, at=T0 + 1, phase="step", step=2, started=True
    )
    assert (flight.state, flight.phase, flight.step, flight.attempts) == (
        HostState.IN_FLIGHT,
        "step",
        2,
        1,
    )
    store.set_host(RID, "j1", HostState.IN_FLIGHT, at=T0 + 2, phase="gate_after", started=True)
    done = store.set_host(RID, "j1", HostState.UPDATED, at=T0 + 3)
    assert (done.state, done.phase, done.step, done.attempts, done.updated_at) == (
        HostState.UPDATED,
        "",
        None,
        2,
        T0 + 3,
    )
    deferred = store.set_host(
        RID, "j2", HostState.DEFERRED, at=T0 + 4, reason="unreachable", deferred_until=T0 + 99
    )
    assert (deferred.reason, deferred.deferred_until, deferred.failed) == (
        "unreachable",
        T0 + 99,
        False,
    )
    gate = store.set_host(RID, "j3", HostState.SKIPPED, at=T0 + 5, reason="gate", failed=True)
    assert gate.failed and store.hosts(RID)[1] == gate
    assert store.get(RID).updated_at == T0 + 5
    assert [h.host for h in store.hosts(RID)] == ["j1", "j3", "j2"]
    with pytest.raises(UnknownRolloutError, match="has no host 'j9'"):
        store.set_host(RID, "j9", HostState.SKIPPED, at=T0)
    with pytest.raises(UnknownRolloutError, match="no rollout 'zzz'"):
        store.set_host("zzz", "j1", HostState.SKIPPED, at=T0)


def test_steps_are_read_in_the_order_they_started(store: RolloutStore) -> None:
    store.step_started(RID, "j1", "step", 0, "pull", T0 + 1)
    store.step_finished(RID, "j1", "step", 0, StepState.DONE, "changed", T0 + 2)
    store.step_started(RID, "j2", "step", 0, "pull", T0 + 3)
    store.step_started(RID, "j1", "step", 1, "restart", T0 + 4)
    store.step_finished(RID, "j1", "step", 1, StepState.FAILED, "failed", T0 + 5)
    store.step_started(RID, "j1", "rollback", 0, "restore", T0 + 6)
    assert store.steps(RID, "j1") == [
        StepRecord(RID, "j1", "step", 0, "pull", StepState.DONE, "changed", T0 + 1, T0 + 2),
        StepRecord(RID, "j1", "step", 1, "restart", StepState.FAILED, "failed", T0 + 4, T0 + 5),
        StepRecord(RID, "j1", "rollback", 0, "restore", StepState.STARTED, "", T0 + 6, None),
    ]
    assert [(s.host, s.index, s.phase) for s in store.steps(RID)] == [
        ("j1", 0, "step"),
        ("j2", 0, "step"),
        ("j1", 1, "step"),
        ("j1", 0, "rollback"),
    ]


def test_a_step_started_again_keeps_its_place_and_counts_the_start(store: RolloutStore) -> None:
    store.step_started(RID, "j1", "step", 0, "pull", T0 + 1)
    store.step_started(RID, "j1", "step", 1, "restart", T0 + 2)  # the controller died here
    store.step_started(RID, "j1", "step", 1, "restart", T0 + 9)  # resume runs it again
    store.step_finished(RID, "j1", "step", 1, StepState.DONE, "ok", T0 + 10)
    again = store.steps(RID, "j1")[1]
    assert (again.index, again.starts, again.started_at, again.state, again.outcome) == (
        1,
        2,
        T0 + 9,
        StepState.DONE,
        "ok",
    )
    assert store.steps(RID, "j1")[0].starts == 1


def test_a_step_cannot_finish_unstarted_nor_on_an_unknown_host(store: RolloutStore) -> None:
    with pytest.raises(ValueError, match="finished without having started"):
        store.step_finished(RID, "j1", "step", 4, StepState.DONE, "ok", T0)
    with pytest.raises(ValueError, match="done or failed"):
        store.step_finished(RID, "j1", "step", 0, StepState.STARTED, "", T0)
    with pytest.raises(UnknownRolloutError, match="has no host 'j9'"):
        store.step_started(RID, "j9", "step", 0, "pull", T0)
    with pytest.raises(UnknownRolloutError, match="no rollout 'zzz'"):
        store.step_finished("zzz", "j1", "step", 0, StepState.DONE, "ok", T0)
    assert store.steps(RID) == []


def test_a_rollout_is_created_whole_or_not_at_all(store: RolloutStore) -> None:
    rid = "20261204T070000Z-dddd"
    duplicate = [RolloutHost(rid, "j1", 1), RolloutHost(rid, "j1", 1)]
    with pytest.raises(Exception, match="UNIQUE"):
        store.create(rollout(rid, play="other"), duplicate)
    with pytest.raises(UnknownRolloutError):
        store.get(rid)


def test_a_reader_of_a_store_before_rollouts_finds_none(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        for migration in schema.STATE[:4]:
            for statement in migration.statements:
                db.execute(statement)
        db.execute("PRAGMA user_version=4")
    reader = open_store(tmp_path, readonly=True).rollouts
    assert reader.recent() == [] and reader.hosts("x") == [] and reader.active("p") is None
    assert reader.leases.all() == []
    with pytest.raises(UnknownRolloutError, match="no rollout recorded yet"):
        reader.get("last")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 4  # not migrated


def test_a_rollout_is_held_by_one_controller_at_a_time(store: RolloutStore) -> None:
    events = Collector()
    first = Holder("run-a", "cli")
    with hold_rollout(store, RID, first, events, ttl=60.0):
        (lease,) = store.leases.all()
        assert (lease.host, lease.holder.owner, lease.holder.pid) == (RID, "run-a", os.getpid())
        with (
            pytest.raises(RolloutHeldError, match=f"rollout {RID} is being worked on: leased by"),
            hold_rollout(store, RID, Holder("run-b", "daemon"), events, ttl=60.0),
        ):
            pass
        with hold_rollout(store, RID, first, events, ttl=60.0):  # the holder may claim again
            pass
    assert store.leases.all() == []  # released at the end of the block
    assert events.events == []


def test_a_dead_controllers_rollout_lease_is_taken_over(store: RolloutStore) -> None:
    events = Collector()
    dead = Holder("run-dead", "cli", pid=2**22 + 7)  # a pid no process has on this controller
    with (
        hold_rollout(store, RID, dead, events, ttl=3600.0, alive=lambda pid: False),
        hold_rollout(store, RID, Holder("run-b", "cli"), events, ttl=60.0),
    ):
        assert [lease.holder.owner for lease in store.leases.all()] == ["run-b"]
    (takeover,) = events.events
    assert takeover.kind == LEASE_TAKEOVER
    assert takeover.data["previous_owner"] == "run-dead" and not takeover.data["expired"]


def test_an_expired_rollout_lease_of_another_controller_is_taken_over(
    store: RolloutStore,
) -> None:
    events = Collector()
    elsewhere = Holder("run-far", "daemon", pid=1, controller="other-controller")
    now = [T0]
    with hold_rollout(store, RID, elsewhere, events, ttl=60.0, clock=lambda: now[0]):
        with (
            pytest.raises(RolloutHeldError, match="other-controller"),
            hold_rollout(store, RID, Holder("b"), events, ttl=60.0, clock=lambda: now[0]),
        ):
            pass
        now[0] += 61
        with hold_rollout(store, RID, Holder("b"), events, ttl=60.0, clock=lambda: now[0]):
            pass
    assert [e.data["expired"] for e in events.events] == [True]


def test_a_version_4_store_gains_the_rollout_tables_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        for migration in schema.STATE[:4]:
            for statement in migration.statements:
                db.execute(statement)
        db.execute("INSERT INTO host_lease VALUES ('db7', 'o', 42, 'c', 'daemon', 1.0, 2.0)")
        db.execute("PRAGMA user_version=4")
    store = open_store(tmp_path)
    assert [lease.host for lease in store.leases.all()] == ["db7"]
    assert store.rollouts.recent() == [] and store.rollouts.leases.all() == []
    store.rollouts.create(rollout(RID), hosts(RID))
    assert store.rollouts.get("last").id == RID
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.latest(schema.STATE)


def test_a_rollouts_tags_read_back_and_a_reader_of_a_version_6_store_reads_none(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    rollouts = open_store(tmp_path).rollouts
    rollouts.create(replace(rollout(RID), tags=("update", "web")), hosts(RID))
    assert rollouts.get(RID).tags == ("update", "web")
    # a store as version 6 wrote it (no tags column), read by a reader, which never migrates
    db = sqlite3.connect(next(tmp_path.glob("*.db")))
    db.execute("ALTER TABLE rollouts DROP COLUMN tags")
    db.execute("PRAGMA user_version=6")
    db.commit()
    db.close()
    with open_store(tmp_path, readonly=True) as reader:
        assert reader.rollouts.get(RID).tags == ()
        assert [r.id for r in reader.rollouts.recent()] == [RID]
