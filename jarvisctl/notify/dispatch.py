"""From alerts to notifications, with Alertmanager's timing (issue 19, CONTRACT-19.md).

Each alert goes to every route node that takes it (notify/routing.py) and joins the node's group
for its `group_by` labels. A group is looked at ("flushed") on its timers:

- a new group waits `group_wait` (the alerts that come together are told together);
- after that it is looked at every `group_interval`: changes to a group are sent at most that
  often, so a flapping check notifies once per group interval, not once per change;
- a group whose firing alerts are those it was told of, and no more, is told again only after
  `repeat_interval`.

At each look, muted alerts are left out (recorded, never sent): inhibited by another firing
alert (notify/muting.py, inhibition rules), silenced, or inside a maintenance window. What the
receiver is then told follows Alertmanager's notification log: a group is sent when it has a
firing alert it was not told of, when an alert it was told of resolved, or when
repeat_interval has passed; a group whose alerts all resolved before it was first told is
never sent. A resolved alert is sent only to a group that was told it fired.

Escalation (which Alertmanager lacks): a route's `escalate: {after, to}` sends each alert the
route took that still fires, unmuted and unacknowledged, `after` seconds after it started, to
receiver `to` as well, once (its resolution follows it there).

An Alertmanager receiver resolves on its own the alerts that are not posted again within its
`resolve_timeout` (5m by default), as Prometheus re-posts its firing alerts: the firing alerts a
group was told of are posted again to the Alertmanager parts of its receiver every
ALERTMANAGER_REFRESH seconds.

`dispatch` is pure: the groups' state in, their new state and the notifications out. `Dispatcher`
runs it in one store transaction with the outbox writes (store.update_groups): a controller
killed at any point neither loses a pending notification nor sends one twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field, replace
from datetime import datetime, tzinfo

from jarvisctl.core.alert_routes import NotifyPolicy, Route
from jarvisctl.core.alerts import Alert, AlertState, Notification, Silence
from jarvisctl.core.frozen import frozen
from jarvisctl.notify.groups import GroupState
from jarvisctl.notify.muting import inhibited_by, silenced_by, windows_muting
from jarvisctl.notify.routing import group_key, group_labels, matching_routes
from jarvisctl.store.alerts import AlertStore, GroupChanges, StoredAlert

ALERTMANAGER_REFRESH = 60.0  # seconds: well within Alertmanager's default resolve_timeout (5m)
ALERTMANAGER_KIND = "alertmanager"
ESCALATION = ":escalate"  # an escalation's group key: its group's, and this


@frozen
class Outgoing:
    """A notification to enqueue; `only` names the one receiver kind whose parts get it (an
    Alertmanager refresh), "" for every part of its receiver."""

    notification: Notification
    only: str = ""


@frozen
class Muting:
    """What mutes alerts at the time of a pass: silences, maintenance windows (read in the
    controller's time zone) and inhibition rules (from the policy)."""

    silences: Sequence[Silence] = ()
    timezone: tzinfo | None = None


@frozen
class Dispatched:
    saved: Mapping[str, GroupState]
    removed: tuple[str, ...]
    outgoing: tuple[Outgoing, ...]
    muted: Mapping[str, str]  # fingerprint -> what muted it, for the alerts looked at
    next_wake: float | None  # the earliest timer left (None: no group waits for anything)
    # groups with a change not told yet because their timer has not come: when each is told
    held: Mapping[str, float] = field(default_factory=dict)


def dispatch(
    policy: NotifyPolicy,
    alerts: Iterable[StoredAlert],
    groups: Mapping[str, GroupState],
    muting: Muting,
    now: float,
    *,
    flush_new: bool = False,
    refreshed: frozenset[str] = frozenset(),
) -> Dispatched:
    """One pass over every group: new groups made, due ones looked at, escalations sent.
    `alerts`: the firing ones and those that changed since the groups' last notification
    (store.since); `flush_new`: groups never told are looked at now rather than after
    group_wait (a run's end: all its alerts are in); `refreshed`: the receivers with
    Alertmanager parts."""
    latest = _latest(alerts)
    pass_ = _Pass(policy, latest, muting, now, flush_new)
    members, nodes = pass_.members(groups)
    saved: dict[str, GroupState] = {}
    removed: list[str] = []
    outgoing: list[Outgoing] = []
    for key, node in nodes.items():
        if key not in groups and any(_fires(a) for a in members[key]):
            wait = 0.0 if flush_new else node.group_wait
            saved[key] = _new_group(key, node, members[key][0], now, wait)
    for key, state in {**groups, **saved}.items():
        found = nodes.get(key) or _node(policy.route, state.route)
        after = None
        if found is not None and found.receiver == state.receiver:  # else the tree changed
            after = pass_.look(state, found, members.get(key, []), outgoing, receivers=refreshed)
        if after is None:  # the group ended
            removed.append(key)
            saved.pop(key, None)
        elif after != groups.get(key):
            saved[key] = after
        else:
            saved.pop(key, None)
    timers = [s.next_flush for s in saved.values()] + [
        g.next_flush for k, g in groups.items() if k not in saved and k not in removed
    ]
    timers += pass_.timers
    return Dispatched(
        saved,
        tuple(k for k in removed if k in groups),
        tuple(outgoing),
        pass_.muted,
        min(timers, default=None),
        {key: when for key, when in pass_.held.items() if key not in removed},
    )


def _new_group(key: str, node: Route, first: Alert, now: float, wait: float) -> GroupState:
    labels = group_labels(node, first.labels)
    return GroupState(key, node.receiver, node.path, labels, now, now + wait)


def _latest(alerts: Iterable[StoredAlert]) -> dict[str, StoredAlert]:
    """Each fingerprint's newest row (a firing one over a resolved one of the same start)."""
    found: dict[str, StoredAlert] = {}
    for stored in alerts:
        fp = stored.alert.fingerprint
        held = found.get(fp)
        if held is None or _newer(stored, held):
            found[fp] = stored
    return found


def _newer(one: StoredAlert, other: StoredAlert) -> bool:
    if one.alert.starts_at != other.alert.starts_at:
        return one.alert.starts_at > other.alert.starts_at
    return one.alert.state is AlertState.FIRING


def _node(root: Route, path: str) -> Route | None:
    return next((node for node in root.walk() if node.path == path), None)


class _Pass:
    """One dispatch pass's view: the alerts, what mutes each, the timers it leaves."""

    def __init__(
        self,
        policy: NotifyPolicy,
        latest: Mapping[str, StoredAlert],
        muting: Muting,
        now: float,
        flush_new: bool,
    ) -> None:
        self.policy, self.latest, self.muting, self.now = policy, latest, muting, now
        self.flush_new = flush_new  # groups never told are looked at now
        self.firing = [s.alert.labels for s in latest.values() if _fires(s.alert)]
        self.muted: dict[str, str] = {}
        self._checked: dict[str, str | None] = {}
        self.timers: list[float] = []
        self.held: dict[str, float] = {}
        self._at = datetime.fromtimestamp(now, muting.timezone) if muting.timezone else None

    def members(
        self, groups: Mapping[str, GroupState]
    ) -> tuple[dict[str, list[Alert]], dict[str, Route]]:
        """Each group's alerts: the firing ones its node takes, and the resolved ones it (or
        its escalation) told of; and each group's node."""
        members: dict[str, list[Alert]] = {}
        nodes: dict[str, Route] = {}
        for stored in self.latest.values():
            alert = stored.alert
            for node in matching_routes(self.policy.route, alert.labels):
                key = group_key(node, alert.labels)
                state = groups.get(key)
                told = state is not None and (
                    alert.fingerprint in state.sent_firing or alert.fingerprint in state.escalated
                )
                if _fires(alert) or told:
                    members.setdefault(key, []).append(alert)
                    nodes[key] = node
        return members, nodes

    def mute(self, alert: Alert) -> str | None:
        """What mutes the alert now (None: nothing)."""
        fp = alert.fingerprint
        if fp not in self._checked:
            self._checked[fp] = self._why(alert)
            if self._checked[fp] is not None:
                self.muted[fp] = str(self._checked[fp])
        return self._checked[fp]

    def _why(self, alert: Alert) -> str | None:
        if not _fires(alert):
            return None  # a resolution is never muted: it ends what was told
        source = inhibited_by(alert.labels, self.firing, self.policy.inhibit)
        if source is not None:
            return f"inhibited by {source.get('alertname', 'an alert')} ({_shown(source)})"
        silences = silenced_by(alert.labels, self.muting.silences, self.now)
        if silences:
            by = silences[0]
            return f"silenced by {by.id} ({by.created_by or 'someone'}: {by.comment})".strip()
        if self._at is not None and self.muting.timezone is not None:
            windows = windows_muting(
                alert.labels, self.policy.maintenance, self._at, self.muting.timezone
            )
            if windows:
                return f"in maintenance window {windows[0].name!r}"
        return None

    def look(
        self,
        state: GroupState,
        node: Route,
        alerts: list[Alert],
        outgoing: list[Outgoing],
        *,
        receivers: frozenset[str],
    ) -> GroupState | None:
        """The group's state after this pass (None: it ended), its notifications added."""
        state = self._escalate(state, node, alerts, outgoing)
        waits = not (self.flush_new and state.sent_at is None)
        if self.now < state.next_flush and waits:
            if self._untold(state, alerts):
                self.held[state.key] = state.next_flush
            return self._refresh(state, alerts, outgoing, receivers)
        if not alerts and not state.escalated:
            return None  # nothing left to tell: the group ends
        told = [a for a in alerts if self.mute(a) is None]
        firing = frozenset(a.fingerprint for a in told if _fires(a))
        resolved = frozenset(
            a.fingerprint for a in told if not _fires(a) and a.fingerprint in state.sent_firing
        )
        state = replace(state, next_flush=self.now + node.group_interval)
        if not _needs_update(state, firing, resolved, self.now, node.repeat_interval):
            return self._refresh(state, alerts, outgoing, receivers)
        sent = [a for a in told if a.fingerprint in firing | resolved]
        outgoing.append(Outgoing(self._notification(state.receiver, state, sent)))
        return replace(
            state,
            sent_at=self.now,
            sent_firing=firing,
            sent_resolved=resolved,
            refreshed_at=self.now,
        )

    def _untold(self, state: GroupState, alerts: list[Alert]) -> bool:
        """Whether the group has a change its next look would tell (a repeat aside)."""
        told = [a for a in alerts if self.mute(a) is None]
        firing = frozenset(a.fingerprint for a in told if _fires(a))
        resolved = frozenset(
            a.fingerprint for a in told if not _fires(a) and a.fingerprint in state.sent_firing
        )
        return _needs_update(state, firing, resolved, self.now, math.inf)

    def _escalate(
        self, state: GroupState, node: Route, alerts: list[Alert], outgoing: list[Outgoing]
    ) -> GroupState:
        """Alerts due for escalation sent to its receiver (once each), and the resolution of
        those it was sent that resolved."""
        escalate = node.escalate
        current = {a.fingerprint: a for a in alerts}
        ended = [current[fp] for fp in state.escalated if fp in current and not _fires(current[fp])]
        gone = [fp for fp in state.escalated if fp not in current]
        due: list[Alert] = []
        if escalate is not None:
            for alert in alerts:
                if not _fires(alert) or alert.fingerprint in state.escalated:
                    continue
                stored = self.latest.get(alert.fingerprint)
                if stored is not None and stored.acknowledged:
                    continue
                when = alert.starts_at + escalate.after
                if self.now < when:
                    self.timers.append(when)
                elif self.mute(alert) is None:
                    due.append(alert)
        if not (due or ended or gone):
            return state
        to = escalate.to if escalate is not None else ""
        if (due or ended) and to:
            outgoing.append(Outgoing(self._notification(to, state, [*due, *ended], ESCALATION)))
        escalated = {
            fp: at for fp, at in state.escalated.items() if fp not in gone and fp in current
        }
        for alert in ended:
            escalated.pop(alert.fingerprint, None)
        escalated.update((alert.fingerprint, self.now) for alert in due)
        return replace(state, escalated=escalated)

    def _refresh(
        self,
        state: GroupState,
        alerts: list[Alert],
        outgoing: list[Outgoing],
        receivers: frozenset[str],
    ) -> GroupState:
        """The firing alerts the group told of, posted again to its receiver's Alertmanager
        parts when ALERTMANAGER_REFRESH has passed (Alertmanager would resolve them)."""
        if state.receiver not in receivers or not state.sent_firing:
            return state
        last = state.refreshed_at if state.refreshed_at is not None else state.sent_at or 0.0
        if self.now < last + ALERTMANAGER_REFRESH:
            self.timers.append(last + ALERTMANAGER_REFRESH)
            return state
        still = [
            a
            for a in alerts
            if _fires(a) and a.fingerprint in state.sent_firing and self.mute(a) is None
        ]
        if not still:
            return state
        outgoing.append(
            Outgoing(self._notification(state.receiver, state, still), only=ALERTMANAGER_KIND)
        )
        self.timers.append(self.now + ALERTMANAGER_REFRESH)
        return replace(state, refreshed_at=self.now)

    def _notification(
        self, receiver: str, state: GroupState, alerts: Sequence[Alert], suffix: str = ""
    ) -> Notification:
        ordered = sorted(alerts, key=lambda a: (not _fires(a), a.starts_at, a.fingerprint))
        return Notification(receiver, state.key + suffix, state.labels, tuple(ordered), self.now)


def _needs_update(
    state: GroupState,
    firing: frozenset[str],
    resolved: frozenset[str],
    now: float,
    repeat: float,
) -> bool:
    """Alertmanager's DedupStage.needsUpdate, over what this group was last told."""
    if state.sent_at is None:
        return bool(firing)
    if not firing <= state.sent_firing:
        return True
    if not firing:
        return bool(state.sent_firing)
    if not resolved <= state.sent_resolved:
        return True
    return now - state.sent_at >= repeat


def _fires(alert: Alert) -> bool:
    return alert.state is AlertState.FIRING


def _shown(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items() if k != "alertname")


# --- running it against the store ---------------------------------------------------------


@frozen
class Parts:
    """Where a receiver's notifications go: its integrations' names, and which of them are
    of which receiver kind (an Alertmanager refresh goes to those alone)."""

    names: tuple[str, ...]
    kinds: Mapping[str, str]  # integration name -> its receiver kind's name

    def of_kind(self, kind: str) -> tuple[str, ...]:
        return tuple(name for name in self.names if self.kinds.get(name) == kind)


class Dispatcher:
    """Runs `dispatch` against the store: alerts and silences read, groups read and written,
    notifications enqueued, all in one transaction."""

    def __init__(
        self,
        store: AlertStore,
        policy: NotifyPolicy,
        parts: Mapping[str, Parts],
        timezone: tzinfo | None,
        on_muted: Callable[[str, str], None] = lambda fingerprint, why: None,
    ) -> None:
        self.store, self.policy, self.parts, self.timezone = store, policy, parts, timezone
        self.on_muted = on_muted
        self._said: dict[str, str] = {}  # what was said muted, so that it is said once

    def run(self, now: float, *, flush_new: bool = False) -> Dispatched:
        found: list[Dispatched] = []

        def update(saved: Mapping[str, str]) -> GroupChanges:
            groups = {key: GroupState.parse(text) for key, text in saved.items()}
            alerts = self.store.since(_horizon(groups.values(), now))
            muting = Muting(tuple(self.store.silences(now)), self.timezone)
            refreshed = frozenset(
                name for name, parts in self.parts.items() if parts.of_kind(ALERTMANAGER_KIND)
            )
            done = dispatch(
                self.policy, alerts, groups, muting, now, flush_new=flush_new, refreshed=refreshed
            )
            found.append(done)
            return GroupChanges(
                {key: state.record() for key, state in done.saved.items()},
                done.removed,
                [(out.notification, self._integrations(out)) for out in done.outgoing],
            )

        self.store.update_groups(update)
        done = found[-1]
        self._tell_muted(done.muted)
        return done

    def _integrations(self, out: Outgoing) -> tuple[str, ...]:
        parts = self.parts.get(out.notification.receiver)
        if parts is None:
            return ()  # a receiver no longer configured: nothing can deliver it
        return parts.of_kind(out.only) if out.only else parts.names

    def _tell_muted(self, muted: Mapping[str, str]) -> None:
        for fingerprint, why in muted.items():
            if self._said.get(fingerprint) != why:
                self.on_muted(fingerprint, why)
        self._said = dict(muted)


def _horizon(groups: Iterable[GroupState], now: float) -> float:
    """Since when resolved alerts matter: the oldest notification or escalation a group may
    have to follow with a resolution (an alert resolves after it was told of)."""
    times = [now]
    for state in groups:
        times.append(state.sent_at if state.sent_at is not None else state.created_at)
        times.extend(state.escalated.values())
    return min(times) - 1.0
