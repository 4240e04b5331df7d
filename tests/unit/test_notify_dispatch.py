"""The dispatcher (notify/dispatch.py) on a real SQLite store, its time given by the test (no
sleeping): group_wait, group_interval and repeat_interval as Alertmanager has them, grouping,
flapping, silences, maintenance windows, inhibition, escalation and acknowledgement, Alertmanager
re-posts, and a restart that neither loses a pending notification nor sends one twice."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import timezone
from pathlib import Path

import pytest

from jarvisctl.core.alert_routes import (
    DEFAULT_INHIBIT_RULES,
    Escalation,
    MaintenanceWindow,
    NotifyPolicy,
    Route,
)
from jarvisctl.core.alerts import Alert, AlertState, Labels, Notification, Silence, parse_matcher
from jarvisctl.notify.dispatch import ALERTMANAGER_KIND as AM
from jarvisctl.notify.dispatch import ALERTMANAGER_REFRESH, Dispatcher, Parts
from jarvisctl.store.alerts import AlertStore, GroupChanges
from jarvisctl.store.factory import open_store

T0 = 1_800_000_000.0
WAIT, INTERVAL, REPEAT = 10.0, 60.0, 3600.0
ONCALL = Route(
    "oncall",
    ("host",),
    WAIT,
    INTERVAL,
    REPEAT,
    matchers=(parse_matcher('severity="critical"'),),
    escalate=Escalation(300.0, "sms"),
    path="0",
)
ROOT = Route("ops", ("host",), WAIT, INTERVAL, REPEAT, routes=(ONCALL,), path="")
POLICY = NotifyPolicy(ROOT)
PARTS = {
    "ops": Parts(("ops/webhook/0", "ops/slack/0"), {"ops/slack/0": "slack"}),
    "oncall": Parts(("oncall/email/0",), {"oncall/email/0": "email"}),
    "sms": Parts(("sms/apprise/0",), {"sms/apprise/0": "apprise"}),
}


def alert(check: str, host: str = "h1", severity: str = "warning", at: float = T0) -> Alert:
    labels = {"alertname": check, "check": check, "host": host, "severity": severity}
    return Alert(Labels(labels), Labels({"summary": f"{check} {severity}"}), starts_at=at)


class Rig:
    """A store, a dispatcher on it, and what each pass enqueued."""

    def __init__(
        self, root: Path, policy: NotifyPolicy = POLICY, parts: dict[str, Parts] = PARTS
    ) -> None:
        self.root, self.policy = root, policy
        self.store: AlertStore = open_store(root).alerts
        self.dispatcher = Dispatcher(self.store, policy, parts, timezone.utc)
        self.seen: set[tuple[str, str]] = set()

    def fire(self, item: Alert, at: float | None = None) -> None:
        self.store.record(item, item.starts_at if at is None else at)

    def resolve(self, item: Alert, at: float) -> None:
        self.store.record(item.resolved(at), at)

    def run(self, at: float, flush_new: bool = False) -> list[tuple[str, Notification]]:
        """One pass at `at`: the (integration, notification) rows it enqueued."""
        self.dispatcher.run(at, flush_new=flush_new)
        new = []
        for entry in self.store.outbox():
            row = (entry.notification.key, entry.integration)
            if row not in self.seen:
                self.seen.add(row)
                new.append((entry.integration, entry.notification))
            self.store.delivered(*row, at)
        return new

    def told(self, at: float, receiver: str = "ops") -> list[Notification]:
        """The notifications a pass sent to a receiver (one per notification)."""
        found: dict[str, Notification] = {}
        for _, note in self.run(at):
            if note.receiver == receiver:
                found[note.key] = note
        return list(found.values())


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield Rig(tmp_path)


def states(note: Notification) -> list[tuple[str, str]]:
    return [(a.labels["alertname"], a.state.value) for a in note.alerts]


def test_a_new_group_waits_group_wait_and_alerts_that_came_together_are_told_together(
    rig: Rig,
) -> None:
    rig.fire(alert("disk"))
    assert rig.run(T0) == []
    rig.fire(alert("load", at=T0 + 3))
    assert rig.run(T0 + 3) == []
    rig.fire(alert("disk", host="h2", at=T0 + 4))
    assert rig.run(T0 + 4) == []
    assert rig.run(T0 + WAIT - 1) == []
    notes = rig.told(T0 + WAIT)
    assert sorted(n.group_labels["host"] for n in notes) == ["h1"]  # h2's group waits its own
    (h1,) = notes
    assert states(h1) == [("disk", "firing"), ("load", "firing")]
    assert h1.group_key == 'root:{host="h1"}'
    (h2,) = rig.told(T0 + 4 + WAIT)
    assert states(h2) == [("disk", "firing")]


def test_each_part_of_the_receiver_gets_the_same_notification(rig: Rig) -> None:
    rig.fire(alert("disk"))
    rig.run(T0)
    rows = rig.run(T0 + WAIT)
    assert sorted(integration for integration, _ in rows) == ["ops/slack/0", "ops/webhook/0"]
    assert len({note.key for _, note in rows}) == 1


def test_changes_wait_for_group_interval_and_nothing_more_is_said_until_repeat_interval(
    rig: Rig,
) -> None:
    rig.fire(alert("disk"))
    rig.run(T0)
    assert len(rig.told(T0 + WAIT)) == 1
    rig.fire(alert("load", at=T0 + WAIT + 1))
    assert rig.told(T0 + WAIT + 30) == []  # within group_interval
    (changed,) = rig.told(T0 + WAIT + INTERVAL)
    assert states(changed) == [("disk", "firing"), ("load", "firing")]
    for step in range(2, 60):  # an hour of passes while it stays broken: nothing
        assert rig.told(T0 + WAIT + step * INTERVAL) == []
    (repeated,) = rig.told(T0 + WAIT + INTERVAL + REPEAT)
    assert states(repeated) == states(changed)


def test_a_resolution_is_told_once_and_the_group_ends(rig: Rig) -> None:
    disk = alert("disk")
    rig.fire(disk)
    rig.run(T0)
    rig.told(T0 + WAIT)
    rig.resolve(disk, T0 + 20)
    (resolved,) = rig.told(T0 + WAIT + INTERVAL)
    assert states(resolved) == [("disk", "resolved")]
    assert resolved.alerts[0].ends_at == T0 + 20
    assert rig.told(T0 + WAIT + 2 * INTERVAL) == []
    assert _groups(rig) == []


def _groups(rig: Rig) -> list[str]:
    """The groups the store keeps."""
    keys: list[str] = []

    def read(saved: Mapping[str, str]) -> GroupChanges:
        keys.extend(saved)
        return GroupChanges()

    rig.store.update_groups(read)
    return keys


def test_an_alert_that_fired_and_resolved_within_group_wait_is_never_told(rig: Rig) -> None:
    disk = alert("disk")
    rig.fire(disk)
    rig.run(T0)
    rig.resolve(disk, T0 + 5)
    assert rig.told(T0 + WAIT) == []
    assert rig.told(T0 + WAIT + INTERVAL) == []


def test_a_flapping_check_notifies_once_per_group_interval(rig: Rig) -> None:
    disk = alert("disk")
    rig.fire(disk)
    rig.run(T0)
    told = rig.told(T0 + WAIT)
    at = T0 + WAIT
    for cycle in range(12):  # a change every 10 s for 2 minutes: fire, resolve, fire...
        at += 10
        if cycle % 2 == 0:
            rig.resolve(disk, at)
        else:
            disk = alert("disk", at=at)
            rig.fire(disk)
        told += rig.told(at)
    sent_at = [note.created_at for note in told]
    assert len(told) <= 3  # the first, then at most one per group interval
    assert all(b - a >= INTERVAL for a, b in itertools.pairwise(sent_at))


def test_a_silenced_alert_is_recorded_not_sent_until_the_silence_ends(rig: Rig) -> None:
    muted: list[tuple[str, str]] = []
    rig.dispatcher.on_muted = lambda fp, why: muted.append((fp, why))
    silence = Silence(
        "s-1", (parse_matcher('host="h1"'),), T0 - 1, T0 + 100, "ops", "replacing its disk"
    )
    rig.store.add_silence(silence)
    disk = alert("disk")
    rig.fire(disk)
    rig.run(T0)
    assert rig.told(T0 + WAIT) == []
    assert muted == [(disk.fingerprint, "silenced by s-1 (ops: replacing its disk)")]
    assert [s.alert.fingerprint for s in rig.store.firing()] == [disk.fingerprint]
    assert rig.told(T0 + WAIT + INTERVAL) == []
    (told,) = rig.told(T0 + WAIT + 2 * INTERVAL)  # the silence ended at T0 + 100
    assert states(told) == [("disk", "firing")]


def test_a_maintenance_window_mutes_the_alerts_it_matches(tmp_path: Path) -> None:
    window = MaintenanceWindow("patch", "0 * * * *", 1800.0, (parse_matcher('host="h1"'),))
    rig = Rig(tmp_path, NotifyPolicy(ROOT, DEFAULT_INHIBIT_RULES, (window,)))
    hour = T0 - T0 % 3600  # the window opens on the hour, for 30 minutes
    rig.fire(alert("disk", at=hour + 60))
    rig.fire(alert("disk", host="h2", at=hour + 60))
    rig.run(hour + 60)
    notes = rig.told(hour + 60 + WAIT)
    assert [n.group_labels["host"] for n in notes] == ["h2"]
    for minute in range(2, 30):
        assert rig.told(hour + 60 * minute + WAIT) == []
    (after,) = rig.told(hour + 1800 + WAIT)
    assert after.group_labels["host"] == "h1"


def test_an_unreachable_host_inhibits_its_own_check_alerts(rig: Rig) -> None:
    down = Alert(
        Labels({"alertname": "host unreachable", "host": "h1", "severity": "warning"}),
        starts_at=T0,
    )
    rig.fire(down)
    rig.fire(alert("disk"))
    rig.fire(alert("disk", host="h2"))
    rig.run(T0)
    notes = rig.told(T0 + WAIT)
    assert sorted((n.group_labels["host"], states(n)[0][0]) for n in notes) == [
        ("h1", "host unreachable"),
        ("h2", "disk"),
    ]
    assert [a.labels["alertname"] for a in notes[0].alerts + notes[1].alerts].count("disk") == 1


def test_an_unacknowledged_alert_is_escalated_once_after_the_time_given(rig: Rig) -> None:
    crit = alert("disk", severity="critical")
    rig.fire(crit)
    rig.run(T0)
    assert [n.receiver for n in rig.told(T0 + WAIT, "oncall")] == ["oncall"]
    assert rig.told(T0 + 299, "sms") == []
    (escalated,) = rig.told(T0 + 300, "sms")
    assert escalated.group_key == '0:{host="h1"}:escalate'
    assert states(escalated) == [("disk", "firing")]
    for later in (T0 + 400, T0 + 4000, T0 + 9000):
        assert rig.told(later, "sms") == []  # once
    rig.resolve(crit, T0 + 9100)
    (ended,) = rig.told(T0 + 9101, "sms")
    assert states(ended) == [("disk", "resolved")]


def test_an_acknowledged_alert_is_not_escalated(rig: Rig) -> None:
    crit = alert("disk", severity="critical")
    rig.fire(crit)
    rig.run(T0)
    rig.told(T0 + WAIT, "oncall")
    assert rig.store.acknowledge(crit.fingerprint, T0 + 100, "ana", "on it") is not None
    for later in (T0 + 300, T0 + 1000):
        assert rig.told(later, "sms") == []


def test_a_silenced_alert_is_escalated_only_once_unmuted(rig: Rig) -> None:
    crit = alert("disk", severity="critical")
    rig.store.add_silence(Silence("s", (parse_matcher('check="disk"'),), T0, T0 + 600, "x"))
    rig.fire(crit)
    rig.run(T0)
    assert rig.told(T0 + 300, "sms") == []
    assert len(rig.told(T0 + 600, "sms")) == 1


def test_firing_alerts_are_posted_again_to_alertmanager_alone(tmp_path: Path) -> None:
    am = {"ops": Parts(("ops/webhook/0", "ops/alertmanager/0"), {"ops/alertmanager/0": AM})}
    rig = Rig(tmp_path, parts=am)
    rig.fire(alert("disk"))
    rig.run(T0)
    assert len(rig.run(T0 + WAIT)) == 2
    assert rig.run(T0 + WAIT + ALERTMANAGER_REFRESH - 1) == []
    rows = rig.run(T0 + WAIT + ALERTMANAGER_REFRESH)
    assert [integration for integration, _ in rows] == ["ops/alertmanager/0"]
    assert states(rows[0][1]) == [("disk", "firing")]
    assert [i for i, _ in rig.run(T0 + WAIT + 2 * ALERTMANAGER_REFRESH)] == ["ops/alertmanager/0"]
    rig.resolve(alert("disk"), T0 + 200)  # the resolution goes to both, then nothing more
    assert len(rig.run(T0 + WAIT + 4 * INTERVAL)) == 2
    assert rig.run(T0 + WAIT + 10 * INTERVAL) == []


def test_a_restart_keeps_the_pending_group_and_sends_nothing_twice(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.fire(alert("disk"))
    rig.run(T0)  # the group waits group_wait: then the process dies
    restarted = Rig(tmp_path)
    restarted.seen = rig.seen
    assert restarted.run(T0 + WAIT - 1) == []
    assert _groups(restarted) == ['root:{host="h1"}']  # kept, waiting
    assert len(restarted.told(T0 + WAIT)) == 1  # the pending notification: not lost
    again = Rig(tmp_path)
    again.seen = restarted.seen
    assert again.told(T0 + WAIT + INTERVAL) == []  # already told: not sent again
    assert again.store.pending() == 0


def test_a_runs_end_tells_new_groups_at_once_and_changed_ones_after_group_interval(
    rig: Rig,
) -> None:
    rig.fire(alert("disk"))
    assert rig.dispatcher.run(T0).outgoing == ()  # during the run: the group waits
    assert len(rig.dispatcher.run(T0 + 1, flush_new=True).outgoing) == 1  # its end: told
    rig.fire(alert("load", at=T0 + 5))
    done = rig.dispatcher.run(T0 + 5, flush_new=True)
    assert done.outgoing == () and done.next_wake == T0 + 1 + INTERVAL
    assert list(done.held.values()) == [T0 + 1 + INTERVAL]  # said as held, with when


def test_a_group_with_nothing_new_is_not_held(rig: Rig) -> None:
    rig.fire(alert("disk"))
    rig.run(T0 + 1, flush_new=True)
    done = rig.dispatcher.run(T0 + 5, flush_new=True)
    assert done.outgoing == () and dict(done.held) == {}


def test_alerts_of_a_receiver_no_longer_configured_are_not_enqueued(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.dispatcher.parts = {}
    rig.fire(alert("disk"))
    rig.run(T0)
    assert rig.run(T0 + WAIT) == []


def test_resolved_alerts_are_never_silenced(rig: Rig) -> None:
    disk = alert("disk")
    rig.fire(disk)
    rig.run(T0)
    rig.told(T0 + WAIT)
    rig.store.add_silence(Silence("s", (parse_matcher('host="h1"'),), T0 + 20, T0 + 9999, "x"))
    rig.resolve(disk, T0 + 30)
    (told,) = rig.told(T0 + WAIT + INTERVAL)
    assert told.alerts[0].state is AlertState.RESOLVED
