"""`jarvisctl daemon --once` (for cron) with `notify:`, end to end: sshd test hosts and a real
HTTP receiver on loopback.

What its runs found is told before it exits: the groups they made at once (not after
group_wait, which would outlast the process), and the outbox delivered for at most
`notify.delivery.run_wait`. What could not be delivered in that time stays in the outbox, and
the log's `notifications_finished` says so (`pending`); the next `--once` delivers it, with the
same key, once. A group's change held by its group_interval is said too (`held`, `held_until`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.e2e.test_daemon import DaemonProject, daemon_with_services
from tests.e2e.test_daemon_notify_outage import PLAYBOOK
from tests.e2e.test_remediation import Services
from tests.notify_servers import http_recorder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN_WAIT = 10.0  # notify.delivery.run_wait: how long --once delivers before it exits
INTERVAL = 8.0  # group_interval: the resolution falls due within a --once's RUN_WAIT


@pytest.fixture
def fleet(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[tuple[DaemonProject, Services]]:
    with daemon_with_services(tmp_path, sshd_fleet, sshd_hosts) as (daemon, services):
        (daemon.root / "playbooks" / "web.yml").write_text(PLAYBOOK)
        yield daemon, services


def once(daemon: DaemonProject) -> tuple[int, list[dict[str, Any]]]:
    """One `daemon --once`: its exit status and its log's records."""
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "daemon", "--once", "--log-format", "json"],
        cwd=daemon.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return done.returncode, records


def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == name]


def waited(records: list[dict[str, Any]]) -> float:
    """Seconds from the runs' end to the notifications' end."""
    (ran,) = events(records, "once_finished")
    (told,) = events(records, "notifications_finished")
    return (
        datetime.fromisoformat(told["ts"]).timestamp()
        - datetime.fromisoformat(ran["ts"]).timestamp()
    )


def finished(records: list[dict[str, Any]]) -> tuple[int, int]:
    (said,) = events(records, "notifications_finished")
    return said["sent"], said["pending"]


def test_once_tells_before_it_exits_and_leaves_the_rest_to_the_next(
    fleet: tuple[DaemonProject, Services], sshd_hosts: list[SshdHost]
) -> None:
    daemon, services = fleet
    victim = sshd_hosts[0].name
    with http_recorder() as recorder:
        notify = {
            "receivers": {"hook": {"webhook": {"url": f"{recorder.url}/hook"}}},
            "route": {
                "receiver": "hook",
                "group_by": ["host"],
                "group_wait": "1m",  # longer than a --once lives: it does not wait for it
                "group_interval": f"{INTERVAL:g}s",
                "repeat_interval": "1h",
            },
            "delivery": {"retry_after": "1s", "retry_max": "1s", "run_wait": f"{RUN_WAIT:g}s"},
        }
        config = daemon.root / "jarvisctl.yml"
        base = config.read_text()
        config.write_text(base + yaml.safe_dump({"notify": notify}))

        code, records = once(daemon)  # the first call records the jobs: nothing is due
        assert code == 0 and events(records, "once_finished")[0]["ran"] == 0
        assert finished(records) == (0, 0)

        services.kill(victim)
        time.sleep(2.5)  # the job ({every: 2s}) is due
        code, records = once(daemon)
        assert code == 1  # a check is CRITICAL
        # delivered before the process exited: the receiver has it as soon as it returns
        (post,) = recorder.accepted("/hook")
        body = post.json()
        assert body["status"] == "firing" and body["groupLabels"] == {"host": victim}
        assert finished(records) == (1, 0)
        assert waited(records) < RUN_WAIT  # group_wait (1m) was not waited for
        (queued,) = events(records, "notification_queued")
        assert queued["key"] == body["notificationKey"]

        # repaired within the group's interval, and the receiver fails: --once tells the
        # resolution when the interval has passed (within its run_wait), tries to deliver it
        # until run_wait ends, then exits leaving it queued
        told_at = time.time()
        recorder.answers["/hook"] = (503, b"down for maintenance")
        services.start(victim)
        time.sleep(2.5)
        code, records = once(daemon)
        assert code == 0
        assert finished(records) == (0, 1)  # said: one waits in the outbox
        (queued,) = events(records, "notification_queued")
        assert queued["status"] == "resolved"
        assert datetime.fromisoformat(queued["ts"]).timestamp() > told_at + INTERVAL - 2
        key = queued["key"]
        failed = events(records, "notification_failed")
        assert failed and all(f["key"] == key and "503" in f["error"] for f in failed)
        tried = {p.headers["Idempotency-Key"] for p in recorder.at("/hook")[1:]}
        assert tried == {key}
        assert waited(records) < RUN_WAIT + 1.5  # then it exited, the notification queued

        # the receiver is back: the next --once sends what was left, with its key, once
        recorder.answers.pop("/hook")
        time.sleep(2.5)
        code, records = once(daemon)
        assert code == 0
        assert events(records, "notification_queued") == []  # nothing new to tell
        assert finished(records) == (1, 0)
        delivered = recorder.accepted("/hook")
        assert [p.headers["Idempotency-Key"] for p in delivered[1:]] == [key]
        assert delivered[1].json()["status"] == "resolved"

        # a change held by group_interval is said, with when it is due
        notify["route"]["group_interval"] = "1m"
        config.write_text(base + yaml.safe_dump({"notify": notify}))
        services.kill(victim)
        time.sleep(2.5)
        code, records = once(daemon)
        assert code == 1 and finished(records) == (1, 0)  # a new group: told at once
        told_at = time.time()
        services.start(victim)
        time.sleep(2.5)
        code, records = once(daemon)
        assert code == 0
        (said,) = events(records, "notifications_finished")
        assert (said["sent"], said["pending"], said["held"]) == (0, 0, 1)
        due = datetime.fromisoformat(said["held_until"]).timestamp()
        assert told_at + 50 < due < told_at + 61  # the resolution waits for group_interval
        assert len(recorder.accepted("/hook")) == 3
