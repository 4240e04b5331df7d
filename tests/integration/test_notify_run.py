"""`jarvisctl run --notify` for real (a subprocess, local hosts, a real webhook receiver and a real
SMTP server on loopback): a failing check is told once, grouped, at the run's end; a run that
finds it still failing tells nothing more; the run that finds it fixed tells it resolved. A
receiver that is down delays nothing but its own notification, which the next notifying run
delivers with the same key. Which runs notify: --notify, notify.on_run, never --check."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.notify_servers import Recorder, SmtpServer, free_port, http_recorder, smtp_server

INVENTORY = """\
all:
  hosts:
    alpha: {ansible_connection: local, level_file: alpha.txt}
    zulu: {ansible_connection: local, level_file: zulu.txt}
"""
PLAYBOOK = """\
- name: health
  hosts: all
  labels: {team: vision}
  checks:
    - {name: level, use: command, with: {command: "cat {{ level_file }}"}, warn: 80, crit: 90}
    - {name: spare, use: command, with: {command: "cat {{ level_file }}"}, crit: 95}
"""


def config(hook: str, smtp_port: int, extra: str = "", interval: str = "1s") -> str:
    return f"""\
notify:
  receivers:
    hook: {{webhook: {{url: "{hook}"}}}}
    mail: {{email: {{to: [oncall@example.com], smtp: "smtp://127.0.0.1:{smtp_port}",
                     starttls: false}}}}
  route:
    receiver: hook
    group_by: [host]
    group_wait: 1s
    group_interval: {interval}
    repeat_interval: 1h
    routes:
      - {{match: {{severity: critical}}, receiver: mail, continue: true}}
      - {{receiver: hook}}
  delivery: {{retry_after: 1s, run_wait: 2s}}
{extra}"""


class Project:
    def __init__(self, root: Path, recorder: Recorder, smtp: SmtpServer) -> None:
        self.root, self.recorder, self.smtp = root, recorder, smtp
        (root / "inventory.yml").write_text(INVENTORY)
        (root / "play.yml").write_text(PLAYBOOK)
        self.configure()
        self.level("alpha", 10)
        self.level("zulu", 10)

    def configure(self, hook: str | None = None, extra: str = "", interval: str = "1s") -> None:
        url = hook or f"{self.recorder.url}/hook"
        (self.root / "jarvisctl.yml").write_text(config(url, self.smtp.port, extra, interval))

    def level(self, host: str, value: int) -> None:
        (self.root / f"{host}.txt").write_text(f"{value}\n")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml", *args],
            cwd=self.root,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def posts(self) -> list[dict[str, Any]]:
        return [post.json() for post in self.recorder.at("/hook")]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    with http_recorder() as recorder, smtp_server() as smtp:
        yield Project(tmp_path, recorder, smtp)


def alerts_of(post: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (a["labels"]["alertname"], a["labels"]["severity"], a["status"]) for a in post["alerts"]
    ]


def test_a_failing_check_is_told_once_then_resolved(project: Project) -> None:
    project.level("zulu", 95)
    done = project.run("--notify")
    assert done.returncode != 0  # a critical check
    assert "notifications: 2 sent" in done.stderr, done.stderr
    (post,) = project.posts()
    assert post["status"] == "firing" and post["groupLabels"] == {"host": "zulu"}
    assert sorted(alerts_of(post)) == [
        ("level", "critical", "firing"),
        ("spare", "critical", "firing"),
    ]
    labels = post["alerts"][0]["labels"]
    assert labels["team"] == "vision" and labels["play"] == "health"
    assert post["alerts"][0]["annotations"]["run_id"]
    (mail,) = project.smtp.mails
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert message["Subject"] == "[FIRING:2] host=zulu (2 alerts)"
    assert message["X-Jarvisctl-Notification-Key"] != post["notificationKey"]  # its own

    assert project.run("--notify").stderr.count("notifications:") == 0  # still failing: quiet
    assert len(project.posts()) == 1 and len(project.smtp.mails) == 1

    project.level("zulu", 85)  # critical -> warning: the critical alerts resolve
    time.sleep(1.1)  # group_interval
    done = project.run("--notify")
    post = project.posts()[-1]
    assert sorted(alerts_of(post)) == [
        ("level", "critical", "resolved"),
        ("level", "warning", "firing"),
        ("spare", "critical", "resolved"),
    ]
    project.level("zulu", 10)
    time.sleep(1.1)
    project.run("--notify")
    assert alerts_of(project.posts()[-1]) == [("level", "warning", "resolved")]
    assert len(project.posts()) == 3
    resolved = email.message_from_bytes(project.smtp.mails[-1].content)
    assert resolved["Subject"].startswith("[RESOLVED]")


def test_a_run_says_what_it_sent_and_what_group_interval_holds_back(project: Project) -> None:
    """Every notification the run's pipeline sent is counted (sent while the run went on, or
    at its end), and a change held by group_interval is said, not kept quiet."""
    project.configure(interval="1h")
    project.level("zulu", 92)
    done = project.run("--notify")
    assert "notifications: 2 sent\n" in done.stderr, done.stderr  # webhook + mail
    project.level("zulu", 10)
    done = project.run("--notify")
    assert done.returncode == 0
    held = "notifications: 0 sent; 2 groups' changes held by group_interval"  # hook and mail
    assert held in done.stderr, done.stderr
    assert "the next `jarvisctl run --notify`, sends it" in done.stderr, done.stderr
    assert len(project.posts()) == 1  # the resolution waits for the group's interval


def test_a_receiver_that_is_down_delays_only_its_own_notification(project: Project) -> None:
    down = f"http://127.0.0.1:{free_port()}/hook"
    project.configure(hook=down)
    project.level("alpha", 95)
    started = time.monotonic()
    done = project.run("--notify")
    assert time.monotonic() - started < 30  # run_wait 2s, not the receiver's retries
    assert "notifications: 1 sent, 1 waiting in the outbox" in done.stderr, done.stderr
    assert "warning: notification failed:" in done.stderr and "Connection refused" in done.stderr
    assert len(project.smtp.mails) == 1  # the other receiver was told meanwhile
    project.configure()  # the receiver is back
    done = project.run("--notify")
    (post,) = project.posts()
    assert post["groupLabels"] == {"host": "alpha"} and post["status"] == "firing"
    assert "waiting" not in done.stderr


def test_which_runs_notify(project: Project) -> None:
    project.level("alpha", 95)
    project.run()
    project.run("--check")
    assert project.posts() == [] and project.smtp.mails == []
    done = project.run("--notify", "--check")
    assert done.returncode == 2 and "--notify with --check" in done.stderr
    project.configure(extra="  on_run: true\n")
    project.run("--no-notify")
    assert project.posts() == []
    project.run()
    assert len(project.posts()) == 1


def test_notify_without_a_notify_section_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml", "--notify"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--notify: jarvisctl.yml has no notify: section" in done.stderr
    assert "Traceback" not in done.stderr


ROLLOUT = """\
- name: deploy
  hosts: all
  rollout:
    batches: [1, 1]
    max_fail_percentage: 0
    steps:
      - run: test ! -e {{ broken }}-{{ inventory_hostname }}
"""


def test_a_halted_rollout_is_told_until_a_new_one_starts(project: Project) -> None:
    (project.root / "deploy.yml").write_text(
        ROLLOUT.replace("{{ broken }}", str(project.root / "broken"))
    )
    (project.root / "broken-alpha").write_text("")

    def deploy() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jarvisctl", "run", "deploy.yml", "-i", "inventory.yml",
             "--notify"],
            cwd=project.root, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    done = deploy()
    assert done.returncode != 0 and "notifications: 2 sent" in done.stderr, done.stderr  # + mail
    (post,) = project.posts()
    (alert,) = post["alerts"]
    assert alert["labels"] == {
        "alertname": "rollout halted",
        "play": "deploy",
        "severity": "critical",
    }
    rollout = alert["annotations"]["rollout"]
    assert f"jarvisctl rollout status {rollout}" in alert["annotations"]["description"]
    # the turn's own silence, jarvisctl's, named the rollout
    listed = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "silence", "list", "--all", "--json"],
        cwd=project.root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    (silence,) = json.loads(listed.stdout)
    assert silence["created_by"] == "jarvisctl" and silence["matchers"] == ['host="alpha"']
    assert silence["comment"].startswith(f"rollout {rollout} of play 'deploy': alpha in batch 1")
    (project.root / "broken-alpha").unlink()  # fixed: a new rollout starts, and finishes
    time.sleep(1.1)  # group_interval
    assert deploy().returncode == 0
    resolved = project.posts()[-1]
    assert [(a["labels"]["alertname"], a["status"]) for a in resolved["alerts"]] == [
        ("rollout halted", "resolved")
    ]
    assert len(project.posts()) == 2
