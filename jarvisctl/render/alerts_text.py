"""`jarvisctl alerts` and `jarvisctl silence list` for people and for programs: one row per
alert (or silence) with what an operator acts on, and their JSON documents
(render/schemas/alerts.schema.json, silences.schema.json), which the daemon's /alerts and
/silences answer too.

Label values, comments and names come from playbooks, hosts and operators: each is shown
escaped (backups_text.escaped), so that none can break a row or drive the terminal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jarvisctl.core.alerts import AlertState, Silence
from jarvisctl.core.frozen import frozen
from jarvisctl.render.backups_text import age_text, escaped, iso, when_text
from jarvisctl.store.alerts import StoredAlert

SCHEMA_VERSION = 1


@frozen
class Muted:
    """Why a firing alert is not sent now: the silences and maintenance windows that mute it,
    and the firing alert that inhibits it (its fingerprint)."""

    silences: tuple[Silence, ...] = ()
    windows: tuple[str, ...] = ()
    inhibited_by: str | None = None

    def __bool__(self) -> bool:
        return bool(self.silences or self.windows or self.inhibited_by)


def silence_state(silence: Silence, now: float) -> str:
    """pending (starts later), active, or expired."""
    if now < silence.starts_at:
        return "pending"
    return "active" if now < silence.ends_at else "expired"


def labels_text(labels: Mapping[str, str]) -> str:
    return " ".join(f'{name}="{escaped(value)}"' for name, value in labels.items())


def alert_title(stored: StoredAlert) -> str:
    labels = stored.alert.labels
    name = labels.get("alertname") or labels.get("check") or "alert"
    host = labels.get("host")
    return escaped(f"{name} on {host}" if host else name)


def _notes(stored: StoredAlert, muted: Muted) -> str:
    notes = []
    if stored.acknowledged:
        notes.append("acknowledged")
    if muted.silences:
        notes.append("silenced")
    if muted.windows:
        notes.append("maintenance")
    if muted.inhibited_by:
        notes.append("inhibited")
    return ", ".join(notes) or "-"


def alert_table(alerts: Sequence[tuple[StoredAlert, Muted]], now: float) -> Iterator[str]:
    """A row per alert (fingerprint, state, severity, since, acknowledged or muted, what and
    where), then indented lines: its labels, who acknowledged it and why, what mutes it."""
    header = ("fingerprint", "state", "severity", "since (UTC)", "notes", "alert")
    rows = [
        (
            stored.alert.fingerprint,
            stored.alert.state.value,
            escaped(stored.alert.labels.get("severity", "-")),
            f"{when_text(stored.alert.starts_at)} ({age_text(now - stored.alert.starts_at)} ago)",
            _notes(stored, muted),
            alert_title(stored),
        )
        for stored, muted in alerts
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    yield _row(header, widths)
    for row, (stored, muted) in zip(rows, alerts, strict=True):
        yield _row(row, widths)
        yield from _details(stored, muted, now)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join([*(c.ljust(w) for c, w in zip(cells, widths, strict=False)), cells[-1]])


def _details(stored: StoredAlert, muted: Muted, now: float) -> Iterator[str]:
    alert = stored.alert
    yield f"    labels: {labels_text(alert.labels)}"
    if alert.state is AlertState.RESOLVED and alert.ends_at is not None:
        lasted = age_text(alert.ends_at - alert.starts_at)
        yield f"    resolved {when_text(alert.ends_at)} after {lasted}"
    if stored.acked_at is not None:
        said = f": {escaped(stored.ack_comment)}" if stored.ack_comment else ""
        yield (
            f"    acknowledged by {escaped(stored.acked_by)} {when_text(stored.acked_at)} "
            f"({age_text(now - stored.acked_at)} ago){said}"
        )
    for silence in muted.silences:
        said = f": {escaped(silence.comment)}" if silence.comment else ""
        yield (
            f"    silenced by {silence.id} ({escaped(silence.created_by)}, until "
            f"{when_text(silence.ends_at)}){said}"
        )
    for window in muted.windows:
        yield f"    in maintenance window {escaped(window)!r}"
    if muted.inhibited_by:
        yield f"    inhibited by firing alert {muted.inhibited_by}"


def alert_document(stored: StoredAlert, muted: Muted) -> dict[str, Any]:
    alert = stored.alert
    acknowledged = (
        None
        if stored.acked_at is None
        else {"at": iso(stored.acked_at), "by": stored.acked_by, "comment": stored.ack_comment}
    )
    return {
        "fingerprint": alert.fingerprint,
        "state": alert.state.value,
        "severity": alert.labels.get("severity"),
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "starts_at": iso(alert.starts_at),
        "ends_at": iso(alert.ends_at),
        "updated_at": iso(stored.updated_at),
        "generator": alert.generator,
        "acknowledged": acknowledged,
        "silenced": bool(muted.silences or muted.windows),
        "muted": bool(muted),
        "silenced_by": [_silencer(s) for s in muted.silences],
        "maintenance": list(muted.windows),
        "inhibited_by": muted.inhibited_by,
    }


def _silencer(s: Silence) -> dict[str, Any]:
    return {"id": s.id, "created_by": s.created_by, "comment": s.comment, "ends_at": iso(s.ends_at)}


def silence_table(silences: Sequence[Silence], now: float) -> Iterator[str]:
    """A row per silence (id, state, from, until, author), then its matchers and comment."""
    header = ("id", "state", "starts (UTC)", "ends (UTC)", "created by")
    rows = [
        (
            s.id,
            silence_state(s, now),
            when_text(s.starts_at),
            f"{when_text(s.ends_at)} ({_left(s, now)})",
            escaped(s.created_by) or "-",
        )
        for s in silences
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    yield _row(header, widths)
    for row, silence in zip(rows, silences, strict=True):
        yield _row(row, widths)
        yield f"    matchers: {', '.join(escaped(str(m)) for m in silence.matchers)}"
        if silence.comment:
            yield f"    comment: {escaped(silence.comment)}"


def _left(silence: Silence, now: float) -> str:
    if now >= silence.ends_at:
        return f"{age_text(now - silence.ends_at)} ago"
    return f"in {age_text(silence.ends_at - now)}"


def silence_document(silence: Silence, now: float) -> dict[str, Any]:
    return {
        "id": silence.id,
        "state": silence_state(silence, now),
        "matchers": [str(m) for m in silence.matchers],
        "starts_at": iso(silence.starts_at),
        "ends_at": iso(silence.ends_at),
        "created_by": silence.created_by,
        "comment": silence.comment,
    }


def silence_line(action: str, silence: Silence) -> str:
    """`silence 3f2a... added: host=~"jetson-0.*", ... until 2026-12-01 12:00:00 UTC`."""
    matchers = ", ".join(escaped(str(m)) for m in silence.matchers)
    return (
        f"silence {silence.id} {action}: {matchers}; from {when_text(silence.starts_at)} "
        f"until {when_text(silence.ends_at)} UTC"
    )
