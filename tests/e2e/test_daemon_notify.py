"""Issue 19's Must show, end to end: a real `jarvisctl daemon` against the sshd test hosts, each
with a real small service, telling real receivers started here on loopback: an HTTP server that
records webhook and Slack-format posts, an SMTP server (aiosmtpd) and a real Alertmanager (read
back with amtool).

- A service killed on a host: one firing notification per receiver, its two failing checks
  grouped in it; nothing more while it stays broken until repeat_interval; then, once repaired,
  one resolved notification per receiver (and Alertmanager no longer holds the alert).
- A receiver down (answering 503), and the daemon SIGKILLed with the notification in its
  outbox: the restarted daemon delivers it once the receiver is back, with the same key, and
  never twice; and it does not tell the same alerts again as new ones. (The Must show's 60 s
  outage, its port refusing, with notifications of several groups queued across the SIGKILL:
  test_daemon_notify_outage.py.)

The timers are short (group_wait 1s, group_interval 5s, repeat_interval 10s, a cycle every 2s),
so that each test takes seconds."""

from __future__ import annotations

import email
import email.policy
import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.e2e.test_daemon import DaemonProject, daemon_with_services
from tests.e2e.test_remediation import Services
from tests.notify_servers import (
    ALERTMANAGER,
    AMTOOL,
    Recorder,
    SmtpServer,
    alertmanager,
    alertmanager_alerts,
    http_recorder,
    smtp_server,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PLAYBOOK = """\
- name: web
  hosts: all
  schedule: {every: 2s}
  labels: {team: web}
  checks:
    - name: web up
      use: command
      with:
        command: >-
          {{ python }} -c 'import socket, sys;
          socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)' {{ svc_port }}
        parse: exit_code
      crit: 1
    - name: web page
      use: command
      with:
        command: >-
          {{ python }} -c 'import sys, urllib.request;
          urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=2)'
          {{ svc_port }}
        parse: exit_code
      crit: 1
"""


def notify_config(hook: str, smtp: int, am: str | None, repeat: str = "10s") -> str:
    receivers = {
        "hook": {"webhook": {"url": f"{hook}/hook"}},
        "chat": {"slack": {"url": f"{hook}/slack"}},
        "mail": {
            "email": {
                "to": ["oncall@example.com"],
                "smtp": f"smtp://127.0.0.1:{smtp}",
                "starttls": False,
            }
        },
    }
    if am is not None:
        receivers["am"] = {"alertmanager": {"url": am}}
    routes = [{"receiver": name, "continue": True} for name in receivers]
    notify = {
        "receivers": receivers,
        "route": {
            "receiver": "hook",
            "group_by": ["host"],
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": repeat,
            "routes": routes,
        },
        "delivery": {"retry_after": "1s", "retry_max": "2s"},
    }
    return yaml.safe_dump({"notify": notify})


class Receivers:
    def __init__(self, recorder: Recorder, smtp: SmtpServer, am: str | None) -> None:
        self.recorder, self.smtp, self.am = recorder, smtp, am

    def hook(self) -> list[dict[str, Any]]:
        return [post.json() for post in self.recorder.accepted("/hook")]

    def slack(self) -> list[dict[str, Any]]:
        return [post.json() for post in self.recorder.accepted("/slack")]

    def mails(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(mail.content, policy=email.policy.default)
            for mail in self.smtp.mails
        ]

    def counts(self) -> tuple[int, int, int]:
        return len(self.hook()), len(self.slack()), len(self.smtp.mails)


@pytest.fixture
def fleet(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[tuple[DaemonProject, Services]]:
    with daemon_with_services(tmp_path, sshd_fleet, sshd_hosts) as (daemon, services):
        (daemon.root / "playbooks" / "web.yml").write_text(PLAYBOOK)
        yield daemon, services


def configure(daemon: DaemonProject, text: str) -> None:
    config = daemon.root / "jarvisctl.yml"
    base = config.read_text().split("notify:")[0]
    config.write_text(base + text)


def statuses(post: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((a["labels"]["alertname"], a["status"]) for a in post["alerts"])


@pytest.mark.skipif(
    ALERTMANAGER is None or AMTOOL is None,
    reason="prometheus-alertmanager (with amtool) is not installed: scripts/test installs it",
)
def test_a_killed_service_is_told_once_per_receiver_then_resolved(
    fleet: tuple[DaemonProject, Services], sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    daemon, services = fleet
    victim = sshd_hosts[0].name
    (tmp_path / "am").mkdir()
    with (
        http_recorder() as recorder,
        smtp_server() as smtp,
        alertmanager(tmp_path / "am") as am,
    ):
        receivers = Receivers(recorder, smtp, am)
        configure(daemon, notify_config(recorder.url, smtp.port, am))
        daemon.start()
        wait_for(lambda: len(daemon.finished_cycles()) >= 1, 30, "a first cycle")
        assert receivers.counts() == (0, 0, 0)  # every service up: nothing to tell

        services.kill(victim)
        killed = time.time()
        wait_for(lambda: receivers.counts() == (1, 1, 1), 30, "the firing notifications")
        fired = time.time()
        (post,) = receivers.hook()
        assert post["status"] == "firing" and post["groupLabels"] == {"host": victim}
        assert statuses(post) == [("web page", "firing"), ("web up", "firing")]
        assert {a["labels"]["team"] for a in post["alerts"]} == {"web"}
        assert all(a["labels"]["host"] == victim for a in post["alerts"])
        (slack,) = receivers.slack()
        assert slack["text"] == f"[FIRING:2] host={victim} (2 alerts)"
        (mail,) = receivers.mails()
        assert mail["Subject"] == f"[FIRING:2] host={victim} (2 alerts)"
        held = wait_for(lambda: alertmanager_alerts(am), 10, "Alertmanager to hold the alerts")
        assert sorted(a["labels"]["alertname"] for a in held) == ["web page", "web up"]
        assert {a["labels"]["host"] for a in held} == {victim}
        # from the alert's detection to the receiver: well under the 5 s of seed 004
        detected = min(_alert_times(daemon, "alert_firing"))
        assert fired - detected < 5.0, (fired - detected, fired - killed)

        # it stays broken: nothing more until repeat_interval (10 s), then once again
        time.sleep(7)
        assert receivers.counts() == (1, 1, 1)
        wait_for(lambda: receivers.counts() == (2, 2, 2), 15, "the repeat")
        repeated = receivers.hook()[1]
        assert statuses(repeated) == statuses(post)
        assert repeated["notificationKey"] != post["notificationKey"]

        services.start(victim)  # repaired
        wait_for(lambda: receivers.counts() == (3, 3, 3), 30, "the resolved notifications")
        resolved = receivers.hook()[2]
        assert resolved["status"] == "resolved"
        assert statuses(resolved) == [("web page", "resolved"), ("web up", "resolved")]
        assert receivers.slack()[2]["text"] == f"[RESOLVED] host={victim} (2 alerts)"
        assert receivers.mails()[2]["Subject"] == f"[RESOLVED] host={victim} (2 alerts)"
        wait_for(lambda: alertmanager_alerts(am) == [], 10, "Alertmanager to resolve them")
        time.sleep(6)  # one more group interval: nothing more
        assert receivers.counts() == (3, 3, 3)
    assert daemon.stop() == 0
    fired_alerts = daemon.log_events("alert_firing")
    assert {e["alertname"] for e in fired_alerts} == {"web up", "web page"}
    assert daemon.log_events("notification_given_up") == []


def _alert_times(daemon: DaemonProject, event: str) -> list[float]:
    return [datetime.fromisoformat(e["ts"]).timestamp() for e in daemon.log_events(event)]


def outbox(daemon: DaemonProject) -> list[tuple[str, str, int, object]]:
    with sqlite3.connect(daemon.state / "state.db") as db:
        rows = db.execute(
            "SELECT key, integration, attempts, delivered_at FROM outbox ORDER BY created_at"
        ).fetchall()
    return [(str(k), str(i), int(a), d) for k, i, a, d in rows]


def test_a_receiver_outage_and_a_killed_daemon_lose_nothing_and_double_nothing(
    fleet: tuple[DaemonProject, Services], sshd_hosts: list[SshdHost]
) -> None:
    daemon, services = fleet
    victim = sshd_hosts[1].name
    with http_recorder() as recorder, smtp_server() as smtp:
        configure(daemon, notify_config(recorder.url, smtp.port, None, repeat="1h"))
        recorder.answers["/hook"] = (503, b"down for maintenance")
        process = daemon.start()
        wait_for(lambda: len(daemon.finished_cycles()) >= 1, 30, "a first cycle")
        services.kill(victim)
        wait_for(lambda: len(recorder.at("/hook")) >= 2, 30, "the webhook to be tried twice")
        pending = [row for row in outbox(daemon) if row[1] == "hook/webhook/0" and not row[3]]
        assert len(pending) == 1 and pending[0][2] >= 1
        key = pending[0][0]
        assert all(post.headers["Idempotency-Key"] == key for post in recorder.at("/hook"))
        assert len(recorder.accepted("/slack")) == 1  # the other receivers were not held up

        process.send_signal(signal.SIGKILL)  # with the notification in its outbox
        process.wait(timeout=10)
        recorder.answers.pop("/hook")  # the receiver is back
        daemon.start()
        wait_for(lambda: recorder.accepted("/hook"), 30, "the pending notification delivered")
        time.sleep(7)  # a group interval and more: the restarted daemon tells nothing new
        delivered = recorder.accepted("/hook")
        assert [post.headers["Idempotency-Key"] for post in delivered] == [key]
        assert delivered[0].json()["notificationKey"] == key
        assert len(recorder.accepted("/slack")) == 1

        services.start(victim)
        wait_for(lambda: len(recorder.accepted("/hook")) == 2, 30, "the resolution")
        # and the other receivers' before their servers stop: a mail sent while the SMTP
        # server shuts down fails ("Connection unexpectedly closed"), which is not an outage
        wait_for(lambda: len(recorder.accepted("/slack")) == 2, 30, "the chat's resolution")
        wait_for(lambda: len(smtp.mails) == 2, 30, "the mail's resolution")
        keys = [post.headers["Idempotency-Key"] for post in recorder.accepted("/hook")]
        assert len(set(keys)) == 2  # each notification delivered once
        assert recorder.accepted("/hook")[1].json()["status"] == "resolved"
    assert daemon.stop() == 0
    failed = daemon.log_events("notification_failed")
    assert failed and all("503 Service Unavailable" in e["error"] for e in failed)
    assert all(row[3] for row in outbox(daemon))  # every entry delivered
