"""The store's alerts, silences and notification outbox (schema version 8), on a real SQLite
file: alerts deduplicated by fingerprint, resolved and acknowledged; silences listed and
expired; the outbox idempotent per (key, integration), due in order, retried, given up, and
all of it still there when the store is opened again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jarvisctl.core.alerts import Alert, AlertState, Labels, Notification, Silence, parse_matcher
from jarvisctl.store.factory import open_store
from jarvisctl.store.sqlite import schema

DISK = Alert(
    Labels({"alertname": "disk", "check": "disk", "host": "h1", "severity": "critical"}),
    Labels({"value": "93"}),
    AlertState.FIRING,
    1000.0,
)
OTHER = Alert(Labels({"alertname": "disk", "host": "h2", "severity": "warning"}), starts_at=1010.0)


def test_alerts_are_deduplicated_by_fingerprint_and_resolved(tmp_path: Path) -> None:
    alerts = open_store(tmp_path).alerts
    first = alerts.record(DISK, 1000.0)
    assert first is not None and first.alert == DISK
    again = Alert(DISK.labels, Labels({"value": "95"}), AlertState.FIRING, 1060.0)
    stored = alerts.record(again, 1060.0)  # the same alert, seen a cycle later
    assert stored is not None and stored.alert.starts_at == 1000.0  # when it started
    assert stored.alert.annotations == {"value": "95"} and stored.updated_at == 1060.0
    alerts.record(OTHER, 1010.0)
    assert [s.alert.fingerprint for s in alerts.firing()] == [DISK.fingerprint, OTHER.fingerprint]
    ended = alerts.record(DISK.resolved(1200.0), 1200.0)
    assert ended is not None and ended.alert.state is AlertState.RESOLVED
    assert (ended.alert.starts_at, ended.alert.ends_at) == (1000.0, 1200.0)
    assert [s.alert.fingerprint for s in alerts.firing()] == [OTHER.fingerprint]
    assert alerts.record(DISK.resolved(1300.0), 1300.0) is None  # nothing fires: nothing to end
    refired = alerts.record(Alert(DISK.labels, starts_at=1500.0), 1500.0)
    assert refired is not None and refired.alert.starts_at == 1500.0  # a new alert
    history = alerts.since(0.0)
    assert [(s.alert.starts_at, s.alert.state) for s in history] == [
        (1000.0, AlertState.RESOLVED),
        (1010.0, AlertState.FIRING),
        (1500.0, AlertState.FIRING),
    ]
    assert [s.alert.starts_at for s in alerts.since(1400.0)] == [1010.0, 1500.0]


def test_an_acknowledgement_is_kept_with_the_firing_alert(tmp_path: Path) -> None:
    alerts = open_store(tmp_path).alerts
    assert alerts.acknowledge(DISK.fingerprint, 1100.0, "ops", "on it") is None
    alerts.record(DISK, 1000.0)
    acked = alerts.acknowledge(DISK.fingerprint, 1100.0, "ops", "on it")
    assert acked is not None and acked.acknowledged
    assert (acked.acked_at, acked.acked_by, acked.ack_comment) == (1100.0, "ops", "on it")
    (firing,) = open_store(tmp_path).alerts.firing()  # opened again: still acknowledged
    assert firing.acknowledged and firing.acked_by == "ops"


def test_silences_are_listed_while_active_and_expired(tmp_path: Path) -> None:
    alerts = open_store(tmp_path).alerts
    silence = Silence(
        "s1", (parse_matcher('host=~"jetson-0.*"'), parse_matcher('check="gpu temperature"')),
        100.0, 7300.0, "ops", "fan swap",
    )  # fmt: skip
    alerts.add_silence(silence)
    alerts.add_silence(Silence("s2", (parse_matcher("host=h9"),), 8000.0, 9000.0))
    assert alerts.silences(200.0) == [silence]
    assert [s.id for s in alerts.silences()] == ["s1", "s2"]
    assert alerts.expire_silence("s1", 500.0)
    assert not alerts.expire_silence("s1", 600.0) and not alerts.expire_silence("nope", 600.0)
    assert alerts.silences(550.0) == []
    assert alerts.silences()[0].ends_at == 500.0


def notification(receiver: str, created: float) -> Notification:
    return Notification(receiver, 'root:{host="h1"}', Labels({"host": "h1"}), (DISK,), created)


def test_the_outbox_is_idempotent_due_in_order_retried_and_given_up(tmp_path: Path) -> None:
    alerts = open_store(tmp_path).alerts
    first, second = notification("ops", 2000.0), notification("sms", 2001.0)
    assert alerts.enqueue(first, ["ops/slack/0", "ops/email/0"]) == 2
    assert alerts.enqueue(first, ["ops/slack/0"]) == 0  # the same notification: once
    assert alerts.enqueue(second, ["sms/apprise/0", "sms/apprise/1"]) == 2
    assert alerts.due(1999.0) == []
    due = alerts.due(2005.0)
    assert [(e.notification.receiver, e.integration) for e in due] == [
        ("ops", "ops/email/0"),
        ("ops", "ops/slack/0"),
        ("sms", "sms/apprise/0"),
        ("sms", "sms/apprise/1"),
    ]
    assert due[0].notification == first and due[0].notification.key == first.key
    alerts.delivered(first.key, "ops/slack/0", 2006.0)
    alerts.failed(first.key, "ops/email/0", 2006.0, "smtp://m:25: Connection refused", 2036.0)
    alerts.failed(second.key, "sms/apprise/1", 2006.0, "URL 2 is not one Apprise can use", None)
    assert alerts.pending() == 2
    assert [e.integration for e in alerts.due(2010.0)] == ["sms/apprise/0"]
    reopened = open_store(tmp_path).alerts  # a daemon restarted: the outbox is still there
    (retry,) = [e for e in reopened.due(2040.0) if e.integration == "ops/email/0"]
    assert (retry.attempts, retry.last_error) == (1, "smtp://m:25: Connection refused")
    assert retry.notification.key == first.key  # the retry sends the same key


def test_a_reader_of_a_store_before_version_8_reads_no_alerts(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        for migration in schema.STATE:
            if migration.version < 8:
                for statement in migration.statements:
                    db.execute(statement)
        db.execute("PRAGMA user_version=7")
    reader = open_store(tmp_path, readonly=True).alerts
    assert reader.firing() == [] and reader.silences() == []
    assert reader.due(1e12) == [] and reader.pending() == 0
