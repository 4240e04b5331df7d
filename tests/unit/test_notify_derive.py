"""Alerts from a run's events (notify/derive.py): which alert each event fires, changes or
resolves, with its labels (the play's included) and what it says; and the AlertBook that records
them in a real SQLite store, deduplicated, redacted, and read back after a restart."""

from __future__ import annotations

from pathlib import Path

from jarvisctl.core.alerts import Alert, AlertState, Labels
from jarvisctl.core.backup_events import Backup, BackupPrune, BackupVerify
from jarvisctl.core.events import (
    Check,
    Event,
    HostConnected,
    HostUnreachable,
    Payload,
    Remediation,
    RemediationEscalated,
)
from jarvisctl.core.secrets import SecretValues
from jarvisctl.core.step_events import Rollout
from jarvisctl.notify.alert_book import AlertBook
from jarvisctl.notify.derive import DeriveContext, Firing, PlayFacts, derive, series, stale
from jarvisctl.store.factory import open_store

PLAY = "jetson health"
CONTEXT = DeriveContext(
    {
        PLAY: PlayFacts(
            Labels({"team": "vision"}),
            {("jetson-01", "root disk"): (">= 80%", ">= 90%")},
            frozenset({("jetson-01", "etc")}),
        )
    },
    run_id="20261204T100000Z-abcdef",
)


def check(status: str, value: float | None = 93.0, *, flapping: bool = False) -> Check:
    reason = f"{value:g}% crossed crit >= 90" if status == "critical" else ""
    return Check("root disk", "disk_usage", value, "%", status, status, None, flapping, reason, ())


def event(payload: Payload, at: float = 1000.0, host: str | None = "jetson-01") -> Event:
    return Event(payload, host, PLAY, at)


def firing_of(alerts: list[Alert]) -> Firing:
    found: dict[tuple[str, str, str, str, str], list[Alert]] = {}
    for alert in alerts:
        if alert.state is AlertState.FIRING:
            found.setdefault(series(alert.labels), []).append(alert)
    return found


def test_a_critical_check_fires_an_alert_with_the_plays_labels_and_what_it_says() -> None:
    (alert,) = derive(event(check("critical")), {}, CONTEXT)
    assert alert.state is AlertState.FIRING and alert.starts_at == 1000.0
    assert alert.labels == {
        "alertname": "root disk",
        "check": "root disk",
        "host": "jetson-01",
        "play": PLAY,
        "severity": "critical",
        "team": "vision",
    }
    assert alert.annotations == {
        "summary": "93% crossed crit >= 90",
        "value": "93%",
        "threshold": ">= 90%",
        "run_id": CONTEXT.run_id,
    }


def test_the_same_status_again_changes_nothing_and_a_new_value_keeps_the_start() -> None:
    (first,) = derive(event(check("critical")), {}, CONTEXT)
    assert derive(event(check("critical"), at=1060.0), firing_of([first]), CONTEXT) == []
    (updated,) = derive(event(check("critical", 95.0), at=1060.0), firing_of([first]), CONTEXT)
    assert updated.starts_at == 1000.0 and updated.annotations["value"] == "95%"
    assert updated.fingerprint == first.fingerprint


def test_warning_to_critical_resolves_the_warning_and_fires_the_critical() -> None:
    (warning,) = derive(event(check("warning", 85.0)), {}, CONTEXT)
    assert warning.labels["severity"] == "warning"
    assert warning.annotations["threshold"] == ">= 80%"
    resolved, critical = derive(event(check("critical"), at=1060.0), firing_of([warning]), CONTEXT)
    assert resolved.fingerprint == warning.fingerprint
    assert resolved.state is AlertState.RESOLVED and resolved.ends_at == 1060.0
    assert critical.labels["severity"] == "critical" and critical.starts_at == 1060.0


def test_ok_resolves_and_ok_with_nothing_firing_says_nothing() -> None:
    assert derive(event(check("ok", 40.0)), {}, CONTEXT) == []
    (critical,) = derive(event(check("critical")), {}, CONTEXT)
    (resolved,) = derive(event(check("ok", 40.0), at=1300.0), firing_of([critical]), CONTEXT)
    assert (resolved.state, resolved.starts_at, resolved.ends_at) == (
        AlertState.RESOLVED,
        1000.0,
        1300.0,
    )


def test_a_flapping_check_says_so() -> None:
    (alert,) = derive(event(check("critical", flapping=True)), {}, CONTEXT)
    assert alert.annotations["description"] == "the check is flapping"


def remediation(outcome: str, status: str | None, reason: str = "") -> Remediation:
    return Remediation(
        "root disk", "vacuum_journal", 1, outcome, reason, ("journalctl --vacuum-size=100M",),
        (0,), None, status, (), 1.5,
    )  # fmt: skip


def test_remediations_that_did_not_fix_it_are_its_history_and_a_verified_one_resolves() -> None:
    (alert,) = derive(event(check("critical")), {}, CONTEXT)
    (tried,) = derive(
        event(remediation("not verified", "critical", "the check is still critical")),
        firing_of([alert]),
        CONTEXT,
    )
    assert tried.annotations["remediations"] == (
        "vacuum_journal: not verified (the check is still critical)"
    )
    assert (
        derive(event(remediation("skipped", None, "cooldown")), firing_of([tried]), CONTEXT) == []
    )
    # the next cycle's check keeps the history
    (again,) = derive(event(check("critical", 94.0), at=1060.0), firing_of([tried]), CONTEXT)
    assert again.annotations["remediations"] == tried.annotations["remediations"]
    (fixed,) = derive(event(remediation("verified", "ok")), firing_of([again]), CONTEXT)
    assert fixed.state is AlertState.RESOLVED


def test_the_history_keeps_the_last_attempts() -> None:
    (alert,) = derive(event(check("critical")), {}, CONTEXT)
    for number in range(8):
        (alert,) = derive(
            event(remediation("failed", None, f"exit {number}")), firing_of([alert]), CONTEXT
        )
    lines = alert.annotations["remediations"].split("; ")
    assert lines == [f"vacuum_journal: failed (exit {n})" for n in range(3, 8)]


def test_an_escalation_fires_from_when_it_was_escalated_and_the_check_ok_resolves_it() -> None:
    escalated = RemediationEscalated("root disk", 900.0, "every remediation's budget is spent")
    (alert,) = derive(event(escalated), {}, CONTEXT)
    assert alert.labels["alertname"] == "remediation escalated"
    assert alert.labels["check"] == "root disk" and alert.labels["severity"] == "critical"
    assert alert.starts_at == 900.0
    assert "jarvisctl remediations reset jetson-01 'root disk'" in alert.annotations["description"]
    (critical,) = derive(event(check("critical")), {}, CONTEXT)
    resolved = derive(event(check("ok", 10.0), at=2000.0), firing_of([alert, critical]), CONTEXT)
    assert {a.labels["alertname"] for a in resolved} == {"root disk", "remediation escalated"}
    assert all(a.state is AlertState.RESOLVED for a in resolved)


def test_an_unreachable_host_fires_and_connecting_in_any_play_resolves_it() -> None:
    down = HostUnreachable("10.0.0.1:22", "connection refused")
    (alert,) = derive(event(down), {}, CONTEXT)
    assert alert.labels == {
        "alertname": "host unreachable",
        "host": "jetson-01",
        "play": PLAY,
        "severity": "critical",
        "team": "vision",
    }
    assert alert.annotations["description"] == "connection refused"
    up = Event(HostConnected("10.0.0.1:22", "SHA256:x", None, 0.1), "jetson-01", "other", 1100.0)
    (resolved,) = derive(up, firing_of([alert]), CONTEXT)
    assert resolved.state is AlertState.RESOLVED
    other = Event(HostConnected("10.0.0.2:22", "SHA256:y", None, 0.1), "jetson-02", PLAY)
    assert derive(other, firing_of([alert]), CONTEXT) == []


def test_a_halted_rollout_fires_until_a_new_one_starts() -> None:
    halted = Rollout("R1", "halted", 2, (), 2, 4, "2 of 4 hosts failed (limit 10%)")
    (alert,) = derive(Event(halted, None, PLAY, 1000.0), {}, CONTEXT)
    assert alert.labels == {
        "alertname": "rollout halted",
        "play": PLAY,
        "severity": "critical",
        "team": "vision",
    }
    assert alert.annotations["rollout"] == "R1"
    assert "jarvisctl rollout status R1" in alert.annotations["description"]
    paused = Rollout("R1", "paused", 2)
    assert derive(Event(paused, None, PLAY), firing_of([alert]), CONTEXT) == []
    (resolved,) = derive(Event(Rollout("R2", "started"), None, PLAY), firing_of([alert]), CONTEXT)
    assert resolved.state is AlertState.RESOLVED


def test_a_failed_backup_fires_until_one_succeeds_to_its_end() -> None:
    failed = Backup("etc", "local", "failed", "paths", ("/etc",), reason="tar: exit 2")
    (alert,) = derive(event(failed), {}, CONTEXT)
    assert alert.labels["alertname"] == "backup failed" and alert.labels["backup"] == "etc"
    assert "tar: exit 2" in alert.annotations["description"]
    taken = Backup("etc", "local", "taken", "paths", ("/etc",), snapshot="s1")
    verified = BackupVerify("etc", "local", "s1", "checksum", True, "verified", None, 0.2)
    assert derive(event(taken), firing_of([alert]), CONTEXT) == []
    # "etc" has keep: rules (CONTEXT): it succeeded only once pruned
    assert derive(event(verified), firing_of([alert]), CONTEXT) == []
    pruned = BackupPrune("etc", "local", ("s1",), (), {"s1": "last"})
    (resolved,) = derive(event(pruned), firing_of([alert]), CONTEXT)
    assert resolved.state is AlertState.RESOLVED
    # a backup without keep: rules succeeded once verified; a failed verification fires
    other = Backup("db", "local", "failed", "command", ("pg_dump",), reason="exit 1")
    (db,) = derive(event(other), {}, CONTEXT)
    bad = BackupVerify("db", "local", "s2", "restore", False, "unusable", "sha256 differs", 1.0)
    (still,) = derive(event(bad), firing_of([db]), CONTEXT)
    assert "sha256 differs" in still.annotations["description"]
    good = BackupVerify("db", "local", "s3", "checksum", True, "verified", None, 0.2)
    (ended,) = derive(event(good), firing_of([still]), CONTEXT)
    assert ended.state is AlertState.RESOLVED


def test_an_alert_fired_before_the_plays_labels_changed_is_resolved_all_the_same() -> None:
    (before,) = derive(event(check("critical")), {}, DeriveContext({PLAY: PlayFacts()}))
    assert "team" not in before.labels
    resolved, now = derive(event(check("critical"), at=1060.0), firing_of([before]), CONTEXT)
    assert resolved.fingerprint == before.fingerprint and resolved.state is AlertState.RESOLVED
    assert now.labels["team"] == "vision"
    (ended,) = derive(event(check("ok", 1.0)), firing_of([now]), CONTEXT)
    assert ended.fingerprint == now.fingerprint


def test_the_book_records_changes_once_and_a_new_book_reads_them_back(tmp_path: Path) -> None:
    store = open_store(tmp_path).alerts
    secrets = SecretValues()
    secrets.add("hunter2-secret-token")
    changes: list[int] = []
    book = AlertBook(store, secrets.redactor, lambda: changes.append(1))
    down = HostUnreachable("10.0.0.1:22", "auth failed for hunter2-secret-token")
    (alert,) = book.apply(event(down), CONTEXT)
    assert "hunter2" not in alert.annotations["description"]
    assert book.apply(event(down, at=1060.0), CONTEXT) == []  # the same: nothing written
    assert len(changes) == 1
    (stored,) = store.firing()
    assert stored.alert == alert and "hunter2" not in str(stored.alert.annotations)
    restarted = AlertBook(open_store(tmp_path).alerts, SecretValues().redactor)
    up = HostConnected("10.0.0.1:22", "SHA256:x", None, 0.1)
    (resolved,) = restarted.apply(event(up, at=1200.0), CONTEXT)
    assert resolved.state is AlertState.RESOLVED and resolved.starts_at == 1000.0
    assert store.firing() == []


def test_alerts_an_operator_ended_outside_any_run_are_resolved() -> None:
    halted = Rollout("R1", "halted", 2, (), 2, 4, "2 of 4 hosts failed")
    (rollout,) = derive(Event(halted, None, PLAY, 1000.0), {}, CONTEXT)
    escalated = RemediationEscalated("root disk", 900.0, "budget spent")
    (escalation,) = derive(event(escalated), {}, CONTEXT)
    (critical,) = derive(event(check("critical")), {}, CONTEXT)
    firing = firing_of([rollout, escalation, critical])
    asked: list[object] = []

    def still(*what: str) -> bool:
        asked.append(what)
        return True

    assert stale(firing, still, still, 2000.0) == []
    assert sorted(asked, key=str) == [("R1",), ("jetson-01", PLAY, "root disk")]
    ended = stale(firing, lambda rollout_id: False, lambda h, p, c: False, 2000.0)
    assert sorted(a.labels["alertname"] for a in ended) == [
        "remediation escalated",
        "rollout halted",
    ]
    assert all(a.state is AlertState.RESOLVED and a.ends_at == 2000.0 for a in ended)


def test_a_book_that_forgets_sees_what_another_process_recorded(tmp_path: Path) -> None:
    daemon = AlertBook(open_store(tmp_path).alerts, SecretValues().redactor)
    cli = AlertBook(open_store(tmp_path).alerts, SecretValues().redactor)
    assert len(daemon.apply(event(check("critical")), CONTEXT)) == 1
    (resolved,) = cli.apply(event(check("ok", 10.0), at=1100.0), CONTEXT)
    assert resolved.state is AlertState.RESOLVED
    # the daemon's view is stale: the same status again writes nothing...
    assert daemon.apply(event(check("critical"), at=1200.0), CONTEXT) == []
    daemon.forget()  # ...until it reads the store again (every poll of the pipeline)
    (again,) = daemon.apply(event(check("critical"), at=1300.0), CONTEXT)
    assert again.state is AlertState.FIRING and again.starts_at == 1300.0
    assert [s.alert.starts_at for s in daemon.store.firing()] == [1300.0]
