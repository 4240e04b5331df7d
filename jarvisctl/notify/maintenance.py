"""Silences for the alerts jarvisctl's own maintenance causes (issue 19, DESIGN.md): a host in its
rollout turn, a host rebooted by a reboot step, a host whose backup is being taken. Each is a
silence of every alert of the host (`host="NAME"`), created by "jarvisctl" with a comment naming
the rollout, step or backup, so that `jarvisctl silence list` shows what muted what and why.

It begins with the event that says the work starts (a rollout's batch_started, a Maintenance
event) and lasts at most as long as the work may take; the event that says it ended (the host's
rollout_host, the step's Step event, the backup's Backup event; a rollout that halts, pauses or
stops ends its hosts' turns) shortens it to `grace` seconds from then: the checks that saw the
host down during the work run again meanwhile, and what they find still broken is told.

`change(event, run_id)` is pure; MaintenanceSilences writes what it says to the store. A
controller killed mid-work leaves its silences to end by themselves.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

from jarvisctl.core.alerts import Matcher, Silence
from jarvisctl.core.backup_events import Backup
from jarvisctl.core.events import Event, EventKind, Maintenance
from jarvisctl.core.frozen import frozen
from jarvisctl.core.step_events import Rollout, RolloutHost, Step
from jarvisctl.store.alerts import AlertStore

CREATED_BY = "jarvisctl"
ROLLOUT_TURN = 3600.0  # the longest a rollout turn's silence lasts if its end is never seen
ROLLOUT_ENDS = frozenset({"halted", "paused", "stopped", "finished", "aborted", "deferred"})
KINDS = frozenset(
    {
        EventKind.MAINTENANCE,
        EventKind.STEP,
        EventKind.BACKUP,
        EventKind.ROLLOUT,
        EventKind.ROLLOUT_HOST,
    }
)

Key = tuple[str, ...]


@frozen
class Begin:
    """Silence `host` from the event's time for at most `seconds`, until `key` ends."""

    key: Key
    host: str
    seconds: float
    comment: str


@frozen
class End:
    """The work named by each key starting with `prefix` ended."""

    prefix: Key


def change(event: Event, run_id: str) -> Sequence[Begin] | End | None:
    """What the event begins or ends; None: nothing of maintenance."""
    payload, host, play = event.payload, event.host or "", event.play or ""
    run = f" (run {run_id})" if run_id else ""
    if isinstance(payload, Maintenance) and host:
        what = "reboot step" if payload.what == "reboot" else payload.what
        comment = f"{what} {payload.name!r} of play {play!r} on {host}{run}"
        return (Begin(("work", host, play, payload.key), host, payload.seconds, comment),)
    if isinstance(payload, Step) and host:
        return End(("work", host, play, f"step:{payload.phase}:{payload.index}"))
    if isinstance(payload, Backup) and host:
        return End(("work", host, play, f"backup:{payload.backup}"))
    if isinstance(payload, Rollout):
        if payload.state == "batch_started":
            return tuple(
                Begin(
                    ("rollout", payload.rollout, name),
                    name,
                    ROLLOUT_TURN,
                    f"rollout {payload.rollout} of play {play!r}: {name} in batch "
                    f"{payload.batch}{run}",
                )
                for name in payload.hosts
            )
        if payload.state in ROLLOUT_ENDS:
            return End(("rollout", payload.rollout))
    if isinstance(payload, RolloutHost) and host:
        return End(("rollout", payload.rollout, host))
    return None


class MaintenanceSilences:
    """The silences this process opened for maintenance, each ended with its work. Thread-safe
    (a daemon's runs share one)."""

    def __init__(self, store: AlertStore, grace: float) -> None:
        self.store, self.grace = store, grace
        self._open: dict[Key, Silence] = {}
        self._lock = threading.Lock()

    def wants(self, event: Event) -> bool:
        """Whether the event may begin or end maintenance (cheap: no store)."""
        if event.kind is EventKind.MAINTENANCE:
            return True
        if event.kind is EventKind.ROLLOUT:
            return True
        with self._lock:
            return event.kind in KINDS and bool(self._open)

    def apply(self, event: Event, run_id: str) -> list[tuple[str, Silence]]:
        """The silences this event created or ended ("created", "ending": it lasts `grace`
        more seconds)."""
        found = change(event, run_id)
        if found is None:
            return []
        with self._lock:
            if isinstance(found, End):
                return [("ending", silence) for silence in self._end(found.prefix, event.at)]
            return [("created", self._begin(begin, event.at)) for begin in found]

    def _begin(self, begin: Begin, at: float) -> Silence:
        silence = Silence(
            f"jarvisctl-{uuid.uuid4().hex[:16]}",
            (Matcher("host", "=", begin.host),),
            at,
            at + begin.seconds + self.grace,
            CREATED_BY,
            begin.comment,
        )
        self.store.add_silence(silence)
        self._open[begin.key] = silence
        return silence

    def _end(self, prefix: Key, at: float) -> list[Silence]:
        ended = []
        for key in [k for k in self._open if k[: len(prefix)] == prefix]:
            silence = self._open.pop(key)
            until = at + self.grace
            if until < silence.ends_at and self.store.expire_silence(silence.id, until):
                ended.append(silence)
        return ended
