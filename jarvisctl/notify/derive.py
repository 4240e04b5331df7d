"""Alerts from a run's events (issue 19, CONTRACT-19.md): which alerts fire, change or resolve.

`derive(event, firing, context)` is pure: given one event, the alerts firing now (by series) and
what the run's plan says (each play's labels, each check's thresholds, which backups prune), it
returns the alerts to record: firing ones (new, or with what they say updated) and resolved ones
(only of alerts that fire). An alert's series is what it is about, its labels' identity without
its severity and the play's own labels: a check that moves WARNING → CRITICAL resolves its
`warning` alert and fires a `critical` one; a play whose labels changed still resolves the alert
it fired before.

- a check's status (after `for`, hysteresis and flap handling): WARNING, CRITICAL or UNKNOWN
  fires the alert of that severity; OK resolves the check's alerts (and its escalation's);
- a remediation verified OK resolves them too; one that ran without fixing it adds a line to the
  firing alert's `remediations` (the last few attempts, across runs);
- a remediation escalated (every rung's budget spent): `remediation escalated`;
- a host unreachable: `host unreachable` (an unreachable host inhibits its own check alerts:
  the default inhibition rule); connected again, in any play: resolved;
- a rollout halted: `rollout halted` (a halted rollout has ended), resolved when a new rollout
  of the play starts (or one resumes or finishes, as rollouts before halting ended did);
- a backup that failed (taking, verifying or pruning it): `backup failed`, resolved by the next
  one that succeeds.

notify/alert_book.py is the thin part with state: the firing alerts, read once from the store,
and each change recorded there (the store deduplicates by fingerprint), its text redacted first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field, replace

from jarvisctl.config.models.values import Threshold
from jarvisctl.core.alerts import Alert, AlertState, Labels, Severity
from jarvisctl.core.backup_events import Backup, BackupPrune, BackupVerify
from jarvisctl.core.events import (
    Check,
    Event,
    EventKind,
    HostConnected,
    HostUnreachable,
    Remediation,
    RemediationEscalated,
)
from jarvisctl.core.frozen import frozen
from jarvisctl.core.labels import RESERVED_LABELS
from jarvisctl.core.step_events import Rollout
from jarvisctl.plan.model import CheckPlan, Plan, Retention

HOST_UNREACHABLE = "host unreachable"
ESCALATED = "remediation escalated"
ROLLOUT_HALTED = "rollout halted"
BACKUP_FAILED = "backup failed"

HISTORY = 5  # remediation attempts an alert's `remediations` keeps (the latest)
REASON = 300  # characters of a reason an annotation keeps
ROLLOUT_ENDED = frozenset({"resumed", "started", "finished", "aborted"})
FAILING = frozenset({"warning", "critical", "unknown"})

# the kinds an AlertBook derives from
ALERT_KINDS = frozenset(
    {
        EventKind.CHECK,
        EventKind.REMEDIATION,
        EventKind.REMEDIATION_ESCALATED,
        EventKind.HOST_UNREACHABLE,
        EventKind.HOST_CONNECTED,
        EventKind.ROLLOUT,
        EventKind.BACKUP,
        EventKind.BACKUP_VERIFY,
        EventKind.BACKUP_PRUNE,
    }
)

# alertname, host, check, play, backup: what an alert is about
Series = tuple[str, str, str, str, str]
Firing = Mapping[Series, Sequence[Alert]]


def series(labels: Mapping[str, str]) -> Series:
    get = labels.get
    return (
        get("alertname", ""),
        get("host", ""),
        get("check", ""),
        get("play", ""),
        get("backup", ""),
    )


@frozen
class PlayFacts:
    """What one play of the plan says that alerts need."""

    labels: Labels = field(default_factory=Labels)
    # (host, check) -> the warn and crit thresholds as text ("" when none)
    thresholds: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # (host, backup) of the backups with `keep:` rules: pruned after they are verified
    pruned: frozenset[tuple[str, str]] = frozenset()


@frozen
class DeriveContext:
    plays: Mapping[str, PlayFacts] = field(default_factory=dict)
    run_id: str = ""
    generator: str = ""  # a URL where a reader follows up ("" from a run)

    def play(self, name: str) -> PlayFacts:
        return self.plays.get(name) or PlayFacts()


def context_of(plan: Plan, run_id: str = "", generator: str = "") -> DeriveContext:
    plays: dict[str, PlayFacts] = {}
    for playbook in plan.playbooks:
        for play in playbook.plays:
            thresholds = {
                (host.host, check.name): (
                    _threshold(check, check.warn),
                    _threshold(check, check.crit),
                )
                for host in play.hosts
                for check in host.checks
            }
            pruned = frozenset(
                (host.host, backup.name)
                for host in play.hosts
                for backup in host.backups
                if _prunes(backup.keep)
            )
            plays.setdefault(play.name, PlayFacts(Labels(play.labels), thresholds, pruned))
    return DeriveContext(plays, run_id, generator)


def _threshold(check: CheckPlan, threshold: Threshold | None) -> str:
    """`>= 90%`, `<= 10 MB/s`, or the threshold as written (a range, a comparison)."""
    if threshold is None:
        return ""
    if threshold.kind != "level" or threshold.duration:
        return threshold.text
    op = ">=" if check.direction == "above" else "<="
    unit = check.unit if check.unit == "%" else (f" {check.unit}" if check.unit else "")
    return f"{op} {threshold.value:g}{unit}"


def _prunes(keep: Retention) -> bool:
    return any((keep.last, keep.daily, keep.weekly, keep.monthly))


def derive(event: Event, firing: Firing, context: DeriveContext) -> list[Alert]:
    """The alerts this event fires, changes or resolves, to be recorded in this order."""
    handler = _HANDLERS.get(event.kind)
    if handler is None or event.play is None:
        return []
    return handler(event, event.play, firing, context)


def _check(event: Event, play: str, firing: Firing, context: DeriveContext) -> list[Alert]:
    payload = event.payload
    assert isinstance(payload, Check)
    host = event.host or ""
    own = (payload.check, host, payload.check, play, "")
    if payload.status not in FAILING:
        escalated = (ESCALATED, host, payload.check, play, "")
        return _resolve(firing, own, event.at) + _resolve(firing, escalated, event.at)
    facts = context.play(play)
    warn, crit = facts.thresholds.get((host, payload.check), ("", ""))
    threshold = {"warning": warn, "critical": crit}.get(payload.status, "")
    summary = payload.reason or f"{payload.check} is {payload.status}"
    notes = {
        "summary": _short(summary),
        "value": _value(payload.value, payload.unit),
        "threshold": threshold,
        "description": "the check is flapping" if payload.flapping else "",
    }
    labels = _labels(facts, payload.check, host, play, payload.status, check=payload.check)
    return _fire(firing, labels, notes, event.at, context)


def _remediation(event: Event, play: str, firing: Firing, context: DeriveContext) -> list[Alert]:
    payload = event.payload
    assert isinstance(payload, Remediation)
    host = event.host or ""
    own = (payload.check, host, payload.check, play, "")
    if payload.outcome == "verified" and payload.verified_status == "ok":
        escalated = (ESCALATED, host, payload.check, play, "")
        return _resolve(firing, own, event.at) + _resolve(firing, escalated, event.at)
    if payload.outcome not in ("not verified", "failed"):
        return []  # skipped (budget, cooldown, escalated, breaker): no attempt to tell of
    line = f"{payload.use}: {payload.outcome}"
    if payload.reason:
        line += f" ({_short(payload.reason, 160)})"
    changed = []
    for alert in firing.get(own, ()):
        history = [*_lines(alert.annotations.get("remediations", "")), line][-HISTORY:]
        notes = Labels({**alert.annotations, "remediations": "; ".join(history)})
        changed.append(replace(alert, annotations=notes))
    return changed


def _escalated(event: Event, play: str, firing: Firing, context: DeriveContext) -> list[Alert]:
    payload = event.payload
    assert isinstance(payload, RemediationEscalated)
    host = event.host or ""
    facts = context.play(play)
    labels = _labels(facts, ESCALATED, host, play, Severity.CRITICAL.value, check=payload.check)
    notes = {
        "summary": f"{payload.check}: every remediation was tried and it has not recovered",
        "description": (
            f"{_short(payload.reason)}; no automatic attempt until it recovers or "
            f"`jarvisctl remediations reset {host} '{payload.check}'`"
        ),
    }
    return _fire(firing, labels, notes, event.at, context, started=payload.since)


def _unreachable(event: Event, play: str, firing: Firing, context: DeriveContext) -> list[Alert]:
    payload = event.payload
    assert isinstance(payload, HostUnreachable)
    host = event.host or ""
    labels = _labels(context.play(play), HOST_UNREACHABLE, host, play, Severity.CRITICAL.value)
    notes = {"summary": f"{host} is unreachable", "description": _short(payload.error)}
    return _fire(firing, labels, notes, event.at, context)


def _connected(event: Event, play: str, firing: Firing, context: DeriveContext) -> list[Alert]:
    assert isinstance(event.payload, HostConnected)
    host = event.host or ""
    keys = [key for key in firing if key[0] == HOST_UNREACHABLE and key[1] == host]
    return [alert for key in keys for alert in _resolve(firing, key, event.at)]


def _rollout(event: Event, play: str, firing: Firing, context: DeriveContext) -> list[Alert]:
    payload = event.payload
    assert isinstance(payload, Rollout)
    own = (ROLLOUT_HALTED, "", "", play, "")
    if payload.state in ROLLOUT_ENDED:
        return _resolve(firing, own, event.at)
    if payload.state != "halted":
        return []
    labels = _labels(context.play(play), ROLLOUT_HALTED, "", play, Severity.CRITICAL.value)
    notes = {
        "summary": f"rollout {payload.rollout} of {play!r} halted: no further host starts",
        "description": (
            f"{_short(payload.reason)}; `jarvisctl rollout status {payload.rollout}` shows "
            "each host; a run of the play starts a new rollout once what failed is fixed"
        ),
        "rollout": payload.rollout,
        "value": f"{payload.failed} of {payload.attempted} hosts failed",
    }
    return _fire(firing, labels, notes, event.at, context)


def _backup(event: Event, play: str, firing: Firing, context: DeriveContext) -> list[Alert]:
    payload = event.payload
    host = event.host or ""
    if isinstance(payload, Backup):
        name, failed = payload.backup, payload.outcome == "failed"
        why, ok = f"taking it failed: {payload.reason}", False
    elif isinstance(payload, BackupVerify):
        name, failed = payload.backup, not payload.ok
        why = f"verifying snapshot {payload.snapshot} ({payload.mode}) failed: {payload.problem}"
        ok = payload.ok and (host, name) not in context.play(play).pruned
    elif isinstance(payload, BackupPrune):
        name, failed = payload.backup, payload.error is not None
        why, ok = f"pruning failed: {payload.error}", not failed and not payload.dry_run
    else:
        return []
    own = (BACKUP_FAILED, host, "", play, name)
    if ok:
        return _resolve(firing, own, event.at)
    if not failed or not host:
        return []
    labels = _labels(context.play(play), BACKUP_FAILED, host, play, "critical", backup=name)
    notes = {"summary": f"backup {name!r} of {host} failed", "description": _short(why)}
    return _fire(firing, labels, notes, event.at, context)


_Handler = Callable[[Event, str, Firing, DeriveContext], list[Alert]]
_HANDLERS: Mapping[EventKind, _Handler] = {
    EventKind.CHECK: _check,
    EventKind.REMEDIATION: _remediation,
    EventKind.REMEDIATION_ESCALATED: _escalated,
    EventKind.HOST_UNREACHABLE: _unreachable,
    EventKind.HOST_CONNECTED: _connected,
    EventKind.ROLLOUT: _rollout,
    EventKind.BACKUP: _backup,
    EventKind.BACKUP_VERIFY: _backup,
    EventKind.BACKUP_PRUNE: _backup,
}


def _labels(
    facts: PlayFacts,
    alertname: str,
    host: str,
    play: str,
    severity: str,
    *,
    check: str = "",
    backup: str = "",
) -> Labels:
    own = {
        "alertname": alertname,
        "host": host,
        "check": check,
        "play": play,
        "severity": severity,
        "backup": backup,
    }
    # a play's labels never replace jarvisctl's (the language refuses them: belt and braces)
    extra = {k: v for k, v in facts.labels.items() if k not in RESERVED_LABELS}
    return Labels({**extra, **{k: v for k, v in own.items() if v}})


def _fire(
    firing: Firing,
    labels: Labels,
    notes: Mapping[str, str],
    at: float,
    context: DeriveContext,
    started: float | None = None,
) -> list[Alert]:
    """The alert firing with these labels (what it says updated, its start kept), after the
    others of its series resolved; nothing when it fires already and says the same."""
    key = series(labels)
    others = [a for a in firing.get(key, ()) if a.labels != labels]
    same = next((a for a in firing.get(key, ()) if a.labels == labels), None)
    tried = (a.annotations.get("remediations") for a in firing.get(key, ()))
    history = next((text for text in tried if text), "")
    annotations = {k: v for k, v in notes.items() if v}
    if history:
        annotations["remediations"] = history
    if context.run_id:
        annotations["run_id"] = context.run_id
    if same is not None:  # the run that fired it stays named until it changes
        annotations["run_id"] = same.annotations.get("run_id", context.run_id)
    alert = Alert(
        labels,
        Labels(annotations),
        AlertState.FIRING,
        same.starts_at if same is not None else (started if started is not None else at),
        generator=context.generator,
    )
    changes = [other.resolved(at) for other in others]
    if same is None or same.annotations != alert.annotations:
        changes.append(alert)
    return changes


def _resolve(firing: Firing, key: Series, at: float) -> list[Alert]:
    return [alert.resolved(at) for alert in firing.get(key, ())]


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    return f"{value:g}{unit if unit == '%' else (' ' + unit if unit else '')}"


def _short(text: str, limit: int = REASON) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lines(history: str) -> list[str]:
    return [line for line in history.split("; ") if line] if history else []


def stale(
    firing: Firing,
    rollout_halted: Callable[[str], bool],
    escalated: Callable[[str, str, str], bool],
    at: float,
) -> list[Alert]:
    """The alerts whose condition an operator ended outside any run, resolved: a halted
    rollout no longer halted in the store (removed, or aborted by a release where halted
    rollouts could be), an escalation reset (`jarvisctl remediations reset`).
    `rollout_halted(id)` and `escalated(host, play, check)` read the store."""
    ended = []
    for key, alerts in firing.items():
        name, host, check, play, _ = key
        for alert in alerts:
            if name == ROLLOUT_HALTED:
                gone = not rollout_halted(alert.annotations.get("rollout", ""))
            elif name == ESCALATED:
                gone = not escalated(host, play, check)
            else:
                continue
            if gone:
                ended.append(alert.resolved(at))
    return ended
