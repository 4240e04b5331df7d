"""What is recorded but not sent, and what reaches a second receiver, end to end: a real daemon
against the sshd test hosts, a real HTTP receiver, and `jarvisctl` itself (silence add, alerts,
alerts ack, run) as an operator uses it.

- A silenced host's alerts and a host inside a maintenance window: recorded, never sent.
- Escalation: an alert still firing and not acknowledged `after` its start reaches the
  escalation's receiver, once; one acknowledged before that never does.
- A rollout's own restart of a service raises no alert: the run silences the host for its turn
  and `maintenance_grace` after it, so the daemon's checks that see the service still starting
  fire an alert that is muted (recorded, not sent), and resolved once it is up; the silence is
  jarvisctl's, naming the rollout. Once it has ended, the same fault is told.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.e2e.test_daemon import DaemonProject, daemon_with_services
from tests.e2e.test_daemon_notify import PLAYBOOK
from tests.e2e.test_remediation import Services
from tests.notify_servers import Recorder, http_recorder
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def fleet(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[tuple[DaemonProject, Services]]:
    with daemon_with_services(tmp_path, sshd_fleet, sshd_hosts) as pair:
        yield pair


def configure(daemon: DaemonProject, notify: dict[str, Any], every: str = "2s") -> None:
    config = daemon.root / "jarvisctl.yml"
    config.write_text(config.read_text().split("notify:")[0] + yaml.safe_dump({"notify": notify}))
    playbook = PLAYBOOK.replace("schedule: {every: 2s}", f"schedule: {{every: {every}}}")
    (daemon.root / "playbooks" / "web.yml").write_text(playbook)


def jarvisctl(daemon: DaemonProject, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=daemon.root,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done


def alerts(daemon: DaemonProject) -> list[dict[str, Any]]:
    done = jarvisctl(daemon, "alerts", "--json")
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def hosts_told(recorder: Recorder, path: str) -> list[str]:
    return [post.json()["groupLabels"]["host"] for post in recorder.accepted(path)]


def test_silences_windows_escalation_and_acknowledgement(
    fleet: tuple[DaemonProject, Services], sshd_hosts: list[SshdHost]
) -> None:
    daemon, services = fleet
    silenced, windowed, escalated, acked = (h.name for h in sshd_hosts[:4])
    with http_recorder() as recorder:
        configure(
            daemon,
            {
                "receivers": {
                    "hook": {"webhook": {"url": f"{recorder.url}/hook"}},
                    "sms": {"webhook": {"url": f"{recorder.url}/sms"}},
                },
                "route": {
                    "receiver": "hook",
                    "group_by": ["host"],
                    "group_wait": "1s",
                    "group_interval": "2s",
                    "repeat_interval": "1h",
                    # long enough for the acknowledgements below (four CLI runs) to land
                    # first on a loaded machine: with 8 s the acknowledged one escalated too
                    "escalate": {"after": "15s", "to": "sms"},
                },
                "maintenance": [
                    {
                        "name": "always",
                        "cron": "* * * * *",
                        "duration": "1h",
                        "matchers": [f'host="{windowed}"'],
                    }
                ],
            },
        )
        added = jarvisctl(
            daemon, "silence", "add", "--match", f'host="{silenced}"', "--for", "1h",
            "--comment", "disk swap", "--json",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        silence_id = json.loads(added.stdout)["id"]
        daemon.start()
        wait_for(lambda: len(daemon.finished_cycles()) >= 1, 30, "a first cycle")
        for name in (silenced, windowed, escalated, acked):
            services.kill(name)

        wait_for(lambda: {escalated, acked} <= set(hosts_told(recorder, "/hook")), 30, "told")
        mine = [a for a in alerts(daemon) if a["labels"]["host"] == acked]
        assert len(mine) == 2
        for alert in mine:
            done = jarvisctl(daemon, "alerts", "ack", alert["fingerprint"], "--comment", "on it")
            assert done.returncode == 0, done.stderr
        firing = {a["labels"]["host"] for a in alerts(daemon)}
        assert {silenced, windowed, escalated, acked} <= firing  # all recorded

        wait_for(lambda: hosts_told(recorder, "/sms"), 30, "the escalation")
        time.sleep(6)  # escalations are sent once; the acknowledged one never
        assert hosts_told(recorder, "/sms") == [escalated]
        (sms,) = recorder.accepted("/sms")
        assert sorted(a["labels"]["alertname"] for a in sms.json()["alerts"]) == [
            "web page",
            "web up",
        ]
        assert sorted(hosts_told(recorder, "/hook")) == sorted([escalated, acked])
        muted = {e["alert"]: e["why"] for e in daemon.log_events("alert_muted")}
        assert any(why.startswith(f"silenced by {silence_id}") for why in muted.values())
        assert "in maintenance window 'always'" in muted.values()

        # the silence expired: its alerts are told (and escalated in their turn)
        done = jarvisctl(daemon, "silence", "expire", silence_id)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: silenced in hosts_told(recorder, "/hook"), 20, "the silenced host")
        assert windowed not in hosts_told(recorder, "/hook") + hosts_told(recorder, "/sms")
    assert daemon.stop() == 0


def reschedule(daemon: DaemonProject, process: subprocess.Popen[bytes], every: str) -> None:
    playbook = daemon.root / "playbooks" / "web.yml"
    text = playbook.read_text()
    playbook.write_text(
        text.split("schedule:")[0]
        + f"schedule: {{every: {every}}}\n"
        + (text.split("schedule:")[1].split("\n", 1)[1])
    )
    process.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.status()["jobs"][0]["schedule"] == f"every {every}", 20, "the reload")


ROLLOUT = """\
- name: deploy
  hosts: all
  rollout:
    batches: [1]
    steps:
      - run: >-
          for p in /proc/[0-9]*; do case "$(tr '\\0' ' ' <"$p/cmdline" 2>/dev/null)" in
          *http[.]server" {{ svc_port }} "*) kill "${p#/proc/}";; esac; done;
          ( sleep 4; setsid {{ python }} -m http.server {{ svc_port }} --bind 127.0.0.1
          --directory {{ svc_dir }} ) >/dev/null 2>&1 </dev/null &
"""


def test_a_rollouts_own_restart_raises_no_alert(
    fleet: tuple[DaemonProject, Services], sshd_hosts: list[SshdHost]
) -> None:
    daemon, services = fleet
    target = sshd_hosts[2].name
    with http_recorder() as recorder:
        configure(
            daemon,
            {
                "receivers": {"hook": {"webhook": {"url": f"{recorder.url}/hook"}}},
                "route": {
                    "receiver": "hook",
                    "group_by": ["host"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                },
                "maintenance_grace": "12s",
            },
            every="1s",
        )
        (daemon.root / "deploy.yml").write_text(ROLLOUT)
        process = daemon.start()
        wait_for(lambda: len(daemon.finished_cycles()) >= 2, 30, "daemon cycles")
        # the daemon's runs hold the hosts' leases while they run: the rollout waits for a
        # pause of the schedule (SIGHUP), so that it is not skipped, then the checks go on
        reschedule(daemon, process, "1h")
        wait_for(lambda: daemon.leases() == [], 20, "the daemon's runs to end")
        done = jarvisctl(daemon, "run", "deploy.yml", "-i", "inventory.yml", "--limit", target)
        assert done.returncode == 0, done.stdout + done.stderr
        ended = time.time()
        reschedule(daemon, process, "1s")
        wait_for(lambda: not services.up(target), 5, "the service restarting")

        def fired_and_resolved() -> bool:
            events = daemon.log_events("alert_resolved")
            return any(e["host"] == target and e["alertname"] == "web up" for e in events)

        wait_for(fired_and_resolved, 30, "the daemon to see the service down, then up")
        assert services.up(target)
        time.sleep(3)
        assert recorder.accepted("/hook") == []  # recorded and muted, never sent
        firing = [e for e in daemon.log_events("alert_firing") if e["host"] == target]
        assert firing, "the daemon never saw the service down: the test proves nothing"
        muted = [e["why"] for e in daemon.log_events("alert_muted")]
        assert muted and all(why.startswith("silenced by jarvisctl-") for why in muted)
        listed = jarvisctl(daemon, "silence", "list", "--all", "--json")
        assert listed.returncode == 0, listed.stderr
        (ours,) = [s for s in json.loads(listed.stdout) if s["created_by"] == "jarvisctl"]
        assert ours["matchers"] == [f'host="{target}"']
        assert ours["comment"].startswith("rollout ")
        assert f"of play 'deploy': {target} in batch 1 (run " in ours["comment"]

        # once the silence has ended, the same fault is told
        wait_for(lambda: time.time() > ended + 13, 20, "the silence to end")
        services.kill(target)
        wait_for(lambda: recorder.accepted("/hook"), 20, "the fault told")
        assert recorder.accepted("/hook")[0].json()["groupLabels"] == {"host": target}
    assert daemon.stop() == 0
