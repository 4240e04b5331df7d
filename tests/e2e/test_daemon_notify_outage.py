"""Issue 19's Must show: "a receiver that is down for 60 s, and the daemon SIGKILLed with
notifications in the outbox: every notification delivered once the receiver or daemon is back,
none lost, none doubled at the webhook receiver", end to end: a real daemon against the sshd
test hosts, and a real HTTP receiver on loopback that is stopped (its port refusing
connections) for 60 s and then started again on the same port.

While it is down, alerts of three hosts fire and resolve (one group per host), so that six
notifications wait in the outbox, across groups and across a SIGKILL of the daemon and its
restart. Once the receiver is back, each is delivered exactly once (by its key), in the order
it was made, and nothing was queued that was not delivered.

One test, of about 80 s: the outage is the point."""

from __future__ import annotations

import json
import random
import signal
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.e2e.test_daemon import DaemonProject, daemon_with_services
from tests.e2e.test_remediation import Services
from tests.notify_servers import LOOPBACK, Post, http_recorder
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUTAGE = 60.0  # seconds the receiver's port refuses connections

# one check per host, so that each group's notifications are one alert's: firing, resolved
PLAYBOOK = """\
- name: web
  hosts: all
  schedule: {every: 2s}
  checks:
    - name: web up
      use: command
      with:
        command: >-
          {{ python }} -c 'import socket, sys;
          socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)' {{ svc_port }}
        parse: exit_code
      crit: 1
"""


def quiet_port() -> int:
    """A free loopback port below the kernel's ephemeral range: no outgoing connection of this
    machine is given it while the receiver is down, so the port is still free for its return."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(20000, min(low, 32768)), 200):
        with socket.socket() as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise AssertionError("no free loopback port below the ephemeral range")


def refused(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), 1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def fleet(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[tuple[DaemonProject, Services]]:
    with daemon_with_services(tmp_path, sshd_fleet, sshd_hosts) as (daemon, services):
        (daemon.root / "playbooks" / "web.yml").write_text(PLAYBOOK)
        yield daemon, services


def configure(daemon: DaemonProject, url: str) -> None:
    notify = {
        "receivers": {"hook": {"webhook": {"url": f"{url}/hook"}}},
        "route": {
            "receiver": "hook",
            "group_by": ["host"],
            "group_wait": "1s",
            "group_interval": "3s",
            "repeat_interval": "1h",
        },
        "delivery": {"retry_after": "1s", "retry_max": "2s"},
    }
    config = daemon.root / "jarvisctl.yml"
    config.write_text(config.read_text() + yaml.safe_dump({"notify": notify}))


def outbox(daemon: DaemonProject) -> list[dict[str, Any]]:
    """The outbox's rows in the order a part's are sent: oldest first, and notifications made
    in one dispatch pass (one created_at, different groups) by key, as the worker takes them
    (store/sqlite/alerts.py's outbox())."""
    with sqlite3.connect(daemon.state / "state.db") as db:
        rows = db.execute(
            "SELECT key, notification, delivered_at FROM outbox ORDER BY created_at, key"
        ).fetchall()
    found = []
    for key, body, delivered in rows:
        note = json.loads(body)
        firing = any(a["state"] == "firing" for a in note["alerts"])
        found.append(
            {
                "key": key,
                "host": note["group_labels"]["host"],
                "status": "firing" if firing else "resolved",
                "delivered": delivered is not None,
            }
        )
    return found


def pending(daemon: DaemonProject) -> list[tuple[str, str]]:
    return [(r["host"], r["status"]) for r in outbox(daemon) if not r["delivered"]]


def by_group(notifications: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each group's (host's) statuses, in the order given."""
    found: dict[str, list[str]] = {}
    for host, status in notifications:
        found.setdefault(host, []).append(status)
    return found


def told(posts: list[Post]) -> list[tuple[str, str, str]]:
    """Each delivered post: its key (the header), its group's host, its status."""
    found = []
    for post in posts:
        body = post.json()
        assert body["notificationKey"] == post.headers["Idempotency-Key"]
        found.append((body["notificationKey"], body["groupLabels"]["host"], body["status"]))
    return found


def test_a_receiver_down_60s_and_a_killed_daemon_lose_nothing_and_double_nothing(
    fleet: tuple[DaemonProject, Services], sshd_hosts: list[SshdHost]
) -> None:
    daemon, services = fleet
    a, b, c, d = (host.name for host in sshd_hosts[:4])
    port = quiet_port()
    with http_recorder(port) as before:
        configure(daemon, before.url)
        daemon.start()
        wait_for(lambda: len(daemon.finished_cycles()) >= 1, 30, "a first cycle")
        services.kill(d)  # the receiver works on this port before the outage
        wait_for(lambda: before.accepted("/hook"), 30, "the first notification")
        assert pending(daemon) == []

    # the receiver is down: its port refuses connections
    down = time.monotonic()
    assert refused(port)
    services.kill(a)
    services.kill(b)
    wait_for(lambda: len(pending(daemon)) == 2, 30, "two groups' firing notifications queued")
    services.start(a)
    wait_for(lambda: len(pending(daemon)) == 3, 30, "a's resolution queued behind them")
    wait_for(
        lambda: any("refused" in e["error"] for e in daemon.log_events("notification_failed")),
        30,
        "a refused delivery attempt",
    )
    assert daemon.process is not None
    killed = daemon.process
    queued_before_kill = pending(daemon)
    killed.send_signal(signal.SIGKILL)  # with three notifications in its outbox
    killed.wait(timeout=10)
    assert pending(daemon) == queued_before_kill

    daemon.start()  # the receiver still down: more is queued behind what waits
    services.kill(c)
    wait_for(lambda: len(pending(daemon)) == 4, 30, "c's firing notification queued")
    services.start(b)
    wait_for(lambda: len(pending(daemon)) == 5, 30, "b's resolution queued")
    services.kill(a)
    wait_for(lambda: len(pending(daemon)) == 6, 30, "a firing again, queued")
    assert by_group(pending(daemon)) == {
        a: ["firing", "resolved", "firing"],
        b: ["firing", "resolved"],
        c: ["firing"],
    }
    time.sleep(max(0.0, down + OUTAGE - time.monotonic()))
    assert refused(port)
    outage = time.monotonic() - down

    with http_recorder(port) as after:  # back, on the same port
        wait_for(lambda: pending(daemon) == [], 60, "every notification delivered")
        time.sleep(4)  # a group interval and more: nothing else is sent
        posts = before.accepted("/hook") + after.accepted("/hook")
        everything = before.at("/hook") + after.at("/hook")
    assert daemon.stop() == 0

    assert outage >= OUTAGE
    delivered = told(posts)
    keys = [key for key, _, _ in delivered]
    assert len(everything) == len(posts)  # nothing refused, nothing sent twice
    doubled = [key for key, count in Counter(keys).items() if count > 1]
    assert doubled == []
    rows = outbox(daemon)
    assert all(row["delivered"] for row in rows)
    # none lost: every notification either daemon queued is in the outbox and was delivered,
    # in the order it was made (so each group's are in order), with the key it was made with
    queued = [e["key"] for e in daemon.log_events("notification_queued")]
    assert sorted(queued) == sorted(row["key"] for row in rows) == sorted(keys)
    assert keys == [row["key"] for row in rows]
    assert by_group([(host, status) for _, host, status in delivered]) == {
        d: ["firing"],
        a: ["firing", "resolved", "firing"],
        b: ["firing", "resolved"],
        c: ["firing"],
    }
    failures = daemon.log_events("notification_failed")
    assert failures and all("refused" in e["error"] for e in failures)
    assert daemon.log_events("notification_given_up") == []
