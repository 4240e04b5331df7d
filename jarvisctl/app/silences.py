"""What `jarvisctl silence add|list|expire` and the daemon's /silences do: make a silence from
matchers (core/alerts.parse_matcher: the one syntax of routes, inhibit rules and windows), a
start and an end or a duration, an author and a comment; list the silences; end one now. Adding
and expiring are recorded as runs (app/alert_actions.py); the dispatcher reads the silences from
the store, so a silenced alert is still recorded, never sent.

A silence is refused when its matchers would match an alert that lacks every label they name
(each matches the empty value, as `check!="uptime"` alone does): as Alertmanager refuses it, for
it would silence nearly everything.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone

from jarvisctl.app.alert_actions import FieldError, alert_action, clean_text, stored_text
from jarvisctl.config.models.values import DURATION_HINT, parse_duration
from jarvisctl.config.project import Project
from jarvisctl.core.alert_events import SilenceChange
from jarvisctl.core.alerts import Matcher, Silence, parse_matcher
from jarvisctl.core.errors import UsageError
from jarvisctl.core.events import Event
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.store.base import Store
from jarvisctl.store.factory import open_store

MAX_MATCHERS = 32
MAX_COMMENT = 2000
MAX_AUTHOR = 200
SHOWN = 8  # candidates named in an error
TIME_HINT = "now, or a date and time: 2026-12-01T14:00 (local time), 2026-12-01T13:00Z"


class UnknownSilenceError(UsageError):
    """No silence has that id (nor an id that starts so)."""


class AmbiguousSilenceError(UnknownSilenceError):
    """Several active or pending silences' ids start so."""


class SilenceEndedError(UnknownSilenceError):
    """The silence has ended already."""


@frozen
class SilenceSpec:
    """A silence as asked for: exactly one of `ends_at` and `duration` (seconds)."""

    matchers: tuple[str, ...]
    comment: str
    created_by: str
    starts_at: float | None = None  # None: now
    ends_at: float | None = None
    duration: float | None = None


def new_silence(spec: SilenceSpec, now: float, silence_id: str | None = None) -> Silence:
    """The silence `spec` asks for, or a FieldError naming the field and what would be valid."""
    matchers = parse_matchers(spec.matchers)
    comment = clean_text(spec.comment, "comment", MAX_COMMENT, required=True)
    author = clean_text(spec.created_by, "created_by", MAX_AUTHOR, required=True)
    starts = now if spec.starts_at is None else spec.starts_at
    if (spec.ends_at is None) == (spec.duration is None):
        raise FieldError("duration", "give how long (a duration) or when it ends, one of them")
    if spec.duration is not None and spec.duration <= 0:
        raise FieldError("duration", f"must be longer than 0s ({DURATION_HINT})")
    ends = starts + spec.duration if spec.duration is not None else spec.ends_at
    assert ends is not None
    if ends <= starts:
        raise FieldError("ends_at", "must be after the silence starts")
    if ends <= now:
        raise FieldError(
            "ends_at", f"the silence would end {_utc(ends)}, in the past: it would never be active"
        )
    return Silence(silence_id or str(uuid.uuid4()), matchers, starts, ends, author, comment)


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_matchers(texts: tuple[str, ...]) -> tuple[Matcher, ...]:
    if not texts:
        raise FieldError("matchers", 'give at least one, e.g. host=~"jetson-0.*"')
    if len(texts) > MAX_MATCHERS:
        raise FieldError("matchers", f"{len(texts)} given, at most {MAX_MATCHERS}")
    found = []
    for index, text in enumerate(texts):
        try:
            found.append(parse_matcher(text))
        except ValueError as exc:
            raise FieldError("matchers", str(exc), index) from None
    if all(m.matches({}) for m in found):
        raise FieldError(
            "matchers",
            "every one matches an alert without the labels it names, so the silence would "
            'mute nearly every alert: give one that needs a value, e.g. host=~"jetson-0.*"',
        )
    return tuple(found)


def parse_time(text: str, field: str, now: float) -> float:
    """`now`, or an ISO 8601 date and time (local time unless it says its offset)."""
    if text.strip().lower() == "now":
        return now
    try:
        moment = datetime.fromisoformat(text.strip())
        return (moment if moment.tzinfo else moment.astimezone()).timestamp()
    except (ValueError, OverflowError, OSError):  # (year 1 in local time overflows)
        raise FieldError(field, f"{text[:60]!r} is not a time ({TIME_HINT})") from None


def parse_length(value: str | float, field: str = "duration") -> float:
    """A duration as jarvisctl.yml writes one (`2h`, `1h30m`), or seconds."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None


@frozen
class SilenceReport:
    silence: Silence
    run_id: str


def add_silence(
    project: Project,
    spec: SilenceSpec,
    secrets: SecretValues,
    arguments: tuple[str, ...] = (),
    source: str = "cli",
    now: float | None = None,
) -> SilenceReport:
    """Validate, then record the silence as a run and add it to the store."""
    at = time.time() if now is None else now
    silence = new_silence(spec, at)
    redact = secrets.redactor()
    kept = replace(
        silence,
        created_by=stored_text(redact, silence.created_by),
        comment=stored_text(redact, silence.comment),
    )
    with alert_action(project, arguments, source, secrets) as log:
        log.store.alerts.add_silence(kept)
        log.events.emit(Event(_change("added", kept)))
    return SilenceReport(kept, log.run_id)


def list_silences(
    project: Project, ended: bool = False, now: float | None = None
) -> tuple[Silence, ...]:
    """The silences active or pending (starting later), soonest to end first; with `ended`,
    the expired ones too, after them, the most recently ended first."""
    at = time.time() if now is None else now
    with _reader(project) as store:
        found = store.alerts.silences()
    current = sorted((s for s in found if s.ends_at > at), key=lambda s: (s.ends_at, s.id))
    past = sorted((s for s in found if s.ends_at <= at), key=lambda s: (-s.ends_at, s.id))
    return (*current, *(past if ended else ()))


def expire_silence(
    project: Project,
    wanted: str,
    secrets: SecretValues,
    arguments: tuple[str, ...] = (),
    source: str = "cli",
    now: float | None = None,
) -> SilenceReport:
    """End the silence `wanted` names (its id, or a unique start of one) now; recorded as a run.
    One that has ended, or no such silence, is an UnknownSilenceError and nothing is recorded."""
    at = time.time() if now is None else now
    with _reader(project) as store:
        silence = find_silence(store, wanted, at)
    with alert_action(project, arguments, source, secrets) as log:
        ended = log.store.alerts.expire_silence(silence.id, at)
        expired = replace(silence, ends_at=at)
        if ended:
            log.events.emit(Event(_change("expired", expired)))
    if not ended:
        raise SilenceEndedError(f"silence {silence.id} has ended meanwhile")
    return SilenceReport(expired, log.run_id)


def find_silence(store: Store, wanted: str, now: float) -> Silence:
    """The silence not ended whose id is `wanted` or starts with it."""
    key = wanted.strip().lower()
    if not key:
        raise UnknownSilenceError("no silence id given (`jarvisctl silence list` lists them)")
    every = store.alerts.silences()
    matches = [s for s in every if s.id.startswith(key)]
    current = [s for s in matches if s.ends_at > now]
    exact = [s for s in current if s.id == key]
    if exact or len(current) == 1:
        return (exact or current)[0]
    if current:
        raise AmbiguousSilenceError(
            f"{wanted!r} is the start of {len(current)} silence ids ({_ids(current)}): "
            "give more of it"
        )
    if matches:
        raise SilenceEndedError(
            f"silence {matches[0].id} has already ended; only an active or pending silence "
            "can be expired"
        )
    live = [s for s in every if s.ends_at > now]
    shown = f"active or pending: {_ids(live)}" if live else "no silence is active or pending"
    raise UnknownSilenceError(f"no silence {wanted[:40]!r} ({shown})")


def _ids(silences: list[Silence]) -> str:
    named = ", ".join(s.id for s in silences[:SHOWN])
    return named + (f" and {len(silences) - SHOWN} more" if len(silences) > SHOWN else "")


def _change(action: str, silence: Silence) -> SilenceChange:
    return SilenceChange(
        action,
        silence.id,
        tuple(str(m) for m in silence.matchers),
        silence.starts_at,
        silence.ends_at,
        silence.created_by,
        silence.comment,
    )


def _reader(project: Project) -> Store:
    return open_store(project.state_dir, readonly=True)
