"""A run's rollouts as its recap and reports count them: per rollout, how many hosts ended
each way (the outcomes of a host's turn, core.results.RolloutTurn), how many did not start in
this run (a pause, a stopped run), and, from the journal, the state the rollout was left in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import RolloutTurn

TURNS = tuple(turn.value for turn in RolloutTurn)  # the recap's columns, in this order
# the states of a rollout's own records that say how a run left it; the others (started,
# resumed, batch_started, batch_finished, aborting) say it is under way, and come after a halt
_LEFT = ("paused", "halted", "deferred", "finished", "aborted", "stopped")


@frozen
class HostTurn:
    """One host's place in the count: its play, and its turn (None: it had none this run)."""

    play: str
    rollout: str | None = None
    turn: str | None = None  # a RolloutTurn value


@frozen
class RolloutEntry:
    """One rollout of a run: how many hosts' turns ended each way, how many did not start, and how
    the run left it."""

    rollout: str  # its id
    play: str
    turns: Mapping[str, int] = field(default_factory=dict)  # every TURNS value, zeros kept
    not_started: int = 0  # the play's hosts with no turn in this run (paused, run stopped)
    state: str = ""  # how this run left it (finished, halted, paused, ...); "": not known
    reason: str = ""  # why it halted, paused or was stopped

    @property
    def counts_text(self) -> str:
        """`1 updated, 0 unchanged, 1 rolled back, 0 rollback failed, 0 deferred, 3 skipped`,
        then `; 2 not started` when some hosts had no turn."""
        text = ", ".join(f"{self.turns.get(turn, 0)} {turn}" for turn in TURNS)
        return text + (f"; {self.not_started} not started" if self.not_started else "")

    @property
    def state_text(self) -> str:
        """`halted: 1 of 3 hosts attempted failed ...`, `finished`, or "" when not known."""
        return f"{self.state}: {self.reason}" if self.state and self.reason else self.state


@dataclass
class RolloutStates:
    """How the run left each rollout, (rollout, play) -> (state, reason), folded from its own
    records as a journal is read: the last one saying so, else "running" (a journal cut short
    by a killed controller)."""

    states: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def add(self, play: str, data: Mapping[str, object]) -> None:
        key, state = (str(data.get("rollout", "")), play), str(data.get("state", ""))
        if state in _LEFT:
            self.states[key] = (state, str(data.get("reason") or ""))
        else:
            self.states.setdefault(key, ("running", ""))


def rollout_entries(
    hosts: Iterable[HostTurn], states: Mapping[tuple[str, str], tuple[str, str]] | None = None
) -> tuple[RolloutEntry, ...]:
    """One entry per rollout, in the order its first host comes; a host of a rollout's play
    with no turn counts as not started (when the play has one rollout in this run)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    idle: dict[str, int] = {}
    for host in hosts:
        if host.rollout is None or host.turn is None:
            idle[host.play] = idle.get(host.play, 0) + 1
            continue
        turns = counts.setdefault((host.rollout, host.play), dict.fromkeys(TURNS, 0))
        turns[host.turn] = turns.get(host.turn, 0) + 1
    plays = [play for _, play in counts]
    return tuple(
        RolloutEntry(
            rollout,
            play,
            turns,
            not_started=idle.get(play, 0) if plays.count(play) == 1 else 0,
            state=(states or {}).get((rollout, play), ("", ""))[0],
            reason=(states or {}).get((rollout, play), ("", ""))[1],
        )
        for (rollout, play), turns in counts.items()
    )
