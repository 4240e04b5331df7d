"""Alerts, silences and the outbox in SQLite (schema version 8), and the dispatcher's
notification groups (version 9). A reader of an older store finds no tables and reads none of
them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jarvisctl.core.alerts import (
    Alert,
    AlertState,
    Labels,
    Notification,
    Silence,
    parse_matcher,
)
from jarvisctl.store.alerts import GroupChanges, OutboxCounts, OutboxEntry, StoredAlert
from jarvisctl.store.sqlite.statefile import StateFile

_ALERT = (
    "labels, annotations, state, starts_at, ends_at, generator, updated_at, acked_at, acked_by, "
    "ack_comment"
)
_OUTBOX = "notification, integration, attempts, next_attempt_at, delivered_at, last_error"


class SqliteAlerts:
    def __init__(self, file: StateFile) -> None:
        self.file = file

    # --- alerts ------------------------------------------------------------------------

    def record(self, alert: Alert, at: float) -> StoredAlert | None:
        with self.file.transaction() as db:
            row = db.execute(
                f"SELECT {_ALERT} FROM alerts WHERE fingerprint = ? AND state = 'firing'",
                (alert.fingerprint,),
            ).fetchone()
            if alert.state is AlertState.FIRING and row is None:
                db.execute(
                    # (a resolved row of the same start is the same alert firing again)
                    "INSERT OR REPLACE INTO alerts (fingerprint, starts_at, state, labels, "
                    "annotations, generator, updated_at) VALUES (?, ?, 'firing', ?, ?, ?, ?)",
                    (
                        alert.fingerprint,
                        alert.starts_at,
                        _json(alert.labels),
                        _json(alert.annotations),
                        alert.generator,
                        at,
                    ),
                )
                return StoredAlert(alert, at)
            if row is None:
                return None
            started = float(row[3])
            resolved = alert.state is AlertState.RESOLVED
            ends = (alert.ends_at if alert.ends_at is not None else at) if resolved else None
            db.execute(
                "UPDATE alerts SET state = ?, ends_at = ?, annotations = ?, updated_at = ? "
                "WHERE fingerprint = ? AND starts_at = ?",
                (alert.state.value, ends, _json(alert.annotations), at, alert.fingerprint, started),
            )
            updated = db.execute(
                f"SELECT {_ALERT} FROM alerts WHERE fingerprint = ? AND starts_at = ?",
                (alert.fingerprint, started),
            ).fetchone()
        return _stored(updated)

    def firing(self) -> list[StoredAlert]:
        return self._alerts("state = 'firing'", ())

    def since(self, at: float) -> list[StoredAlert]:
        return self._alerts("state = 'firing' OR updated_at >= ?", (at,))

    def _alerts(self, where: str, args: tuple[Any, ...]) -> list[StoredAlert]:
        with self.file.connect() as db:
            if not _has_tables(db):
                return []
            rows = db.execute(
                f"SELECT {_ALERT} FROM alerts WHERE {where} ORDER BY starts_at, fingerprint", args
            ).fetchall()
        return [_stored(row) for row in rows]

    def acknowledge(self, fingerprint: str, at: float, by: str, comment: str) -> StoredAlert | None:
        with self.file.transaction() as db:
            db.execute(
                "UPDATE alerts SET acked_at = ?, acked_by = ?, ack_comment = ?, updated_at = ? "
                "WHERE fingerprint = ? AND state = 'firing'",
                (at, by, comment, at, fingerprint),
            )
            row = db.execute(
                f"SELECT {_ALERT} FROM alerts WHERE fingerprint = ? AND state = 'firing'",
                (fingerprint,),
            ).fetchone()
        return None if row is None else _stored(row)

    # --- silences ----------------------------------------------------------------------

    def add_silence(self, silence: Silence) -> None:
        with self.file.transaction() as db:
            db.execute(
                "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?)",
                (
                    silence.id,
                    json.dumps([str(m) for m in silence.matchers]),
                    silence.starts_at,
                    silence.ends_at,
                    silence.created_by,
                    silence.comment,
                ),
            )

    def silences(self, at: float | None = None) -> list[Silence]:
        where, args = ("starts_at <= ? AND ends_at > ?", (at, at)) if at is not None else ("1", ())
        with self.file.connect() as db:
            if not _has_tables(db):
                return []
            rows = db.execute(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences "
                f"WHERE {where} ORDER BY starts_at, id",
                args,
            ).fetchall()
        return [
            Silence(
                str(ident),
                tuple(parse_matcher(text, stored=True) for text in json.loads(matchers)),
                float(starts),
                float(ends),
                str(by),
                str(comment),
            )
            for ident, matchers, starts, ends, by, comment in rows
        ]

    def expire_silence(self, silence_id: str, at: float) -> bool:
        with self.file.transaction() as db:
            changed = db.execute(
                "UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?",
                (at, silence_id, at),
            ).rowcount
        return bool(changed)

    # --- notification groups (schema version 9) -----------------------------------------

    def update_groups(self, update: Callable[[Mapping[str, str]], GroupChanges]) -> GroupChanges:
        with self.file.transaction() as db:
            rows = db.execute("SELECT key, state FROM notify_groups").fetchall()
            changes = update({str(key): str(state) for key, state in rows})
            for key, state in changes.saved.items():
                db.execute("INSERT OR REPLACE INTO notify_groups VALUES (?, ?)", (key, state))
            for key in changes.removed:
                db.execute("DELETE FROM notify_groups WHERE key = ?", (key,))
            for notification, integrations in changes.enqueued:
                _enqueue(db, notification, integrations)
        return changes

    # --- outbox ------------------------------------------------------------------------

    def enqueue(self, notification: Notification, integrations: Sequence[str]) -> int:
        with self.file.transaction() as db:
            return _enqueue(db, notification, integrations)

    def outbox(self, limit: int = 1000) -> list[OutboxEntry]:
        with self.file.connect() as db:
            if not _has_tables(db):
                return []
            rows = db.execute(
                f"SELECT {_OUTBOX} FROM outbox WHERE delivered_at IS NULL "
                "AND next_attempt_at IS NOT NULL "
                "ORDER BY created_at, key, integration LIMIT ?",
                (limit,),
            ).fetchall()
        return [_entry(row) for row in rows]

    def claim(self, key: str, integration: str, now: float, until: float) -> bool:
        with self.file.transaction() as db:
            taken = db.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE key = ? AND integration = ? "
                "AND delivered_at IS NULL AND next_attempt_at IS NOT NULL "
                "AND next_attempt_at <= ?",
                (until, key, integration, now),
            ).rowcount
        return bool(taken)

    def due(self, now: float, limit: int = 100) -> list[OutboxEntry]:
        with self.file.connect() as db:
            if not _has_tables(db):
                return []
            rows = db.execute(
                f"SELECT {_OUTBOX} FROM outbox WHERE delivered_at IS NULL "
                "AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, created_at, key, integration LIMIT ?",
                (now, limit),
            ).fetchall()
        return [_entry(row) for row in rows]

    def delivered(self, key: str, integration: str, at: float) -> None:
        with self.file.transaction() as db:
            db.execute(
                "UPDATE outbox SET delivered_at = ?, next_attempt_at = NULL, "
                "attempts = attempts + 1 WHERE key = ? AND integration = ?",
                (at, key, integration),
            )

    def failed(
        self, key: str, integration: str, at: float, error: str, retry_at: float | None
    ) -> None:
        with self.file.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                "WHERE key = ? AND integration = ? AND delivered_at IS NULL",
                (error, retry_at, key, integration),
            )

    def pending(self) -> int:
        with self.file.connect() as db:
            if not _has_tables(db):
                return 0
            row = db.execute(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL "
                "AND next_attempt_at IS NOT NULL"
            ).fetchone()
        return int(row[0])

    def outbox_counts(self) -> list[OutboxCounts]:
        with self.file.connect() as db:
            if not _has_tables(db):
                return []
            rows = db.execute(
                "SELECT receiver, "
                "sum(delivered_at IS NOT NULL), "
                "sum(attempts) - sum(delivered_at IS NOT NULL), "
                "sum(delivered_at IS NULL AND next_attempt_at IS NOT NULL), "
                "sum(delivered_at IS NULL AND next_attempt_at IS NULL) "
                "FROM outbox GROUP BY receiver ORDER BY receiver"
            ).fetchall()
        return [OutboxCounts(str(r[0]), *(int(n) for n in r[1:])) for r in rows]


def _enqueue(
    db: sqlite3.Connection, notification: Notification, integrations: Sequence[str]
) -> int:
    body = json.dumps(notification_record(notification), sort_keys=True)
    added = 0
    for integration in integrations:
        added += db.execute(
            "INSERT OR IGNORE INTO outbox (key, integration, receiver, notification, "
            "created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                notification.key,
                integration,
                notification.receiver,
                body,
                notification.created_at,
                notification.created_at,
            ),
        ).rowcount
    return added


def _json(labels: Labels) -> str:
    return json.dumps(dict(labels), sort_keys=True)


def alert_record(alert: Alert) -> dict[str, Any]:
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.state.value,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "generator": alert.generator,
    }


def alert_from(record: dict[str, Any]) -> Alert:
    return Alert(
        Labels(record["labels"]),
        Labels(record["annotations"]),
        AlertState(record["state"]),
        float(record["starts_at"]),
        None if record["ends_at"] is None else float(record["ends_at"]),
        str(record["generator"]),
    )


def notification_record(notification: Notification) -> dict[str, Any]:
    """The notification as JSON values; read back, it has the same key."""
    return {
        "receiver": notification.receiver,
        "group_key": notification.group_key,
        "group_labels": dict(notification.group_labels),
        "alerts": [alert_record(alert) for alert in notification.alerts],
        "created_at": notification.created_at,
    }


def notification_from(record: dict[str, Any]) -> Notification:
    return Notification(
        str(record["receiver"]),
        str(record["group_key"]),
        Labels(record["group_labels"]),
        tuple(alert_from(alert) for alert in record["alerts"]),
        float(record["created_at"]),
    )


def _stored(row: Sequence[Any]) -> StoredAlert:
    labels, annotations, state, starts, ends, generator, updated, acked, by, comment = row
    alert = Alert(
        Labels(json.loads(labels)),
        Labels(json.loads(annotations)),
        AlertState(state),
        float(starts),
        None if ends is None else float(ends),
        str(generator),
    )
    return StoredAlert(
        alert, float(updated), None if acked is None else float(acked), str(by), str(comment)
    )


def _entry(row: Sequence[Any]) -> OutboxEntry:
    body, integration, attempts, next_at, delivered, error = row
    return OutboxEntry(
        notification_from(json.loads(body)),
        str(integration),
        int(attempts),
        None if next_at is None else float(next_at),
        None if delivered is None else float(delivered),
        str(error),
    )


def _has_tables(db: sqlite3.Connection) -> bool:
    """False only on a store before version 8 opened by a reader (writers migrate it)."""
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
    ).fetchone()
    return found is not None
