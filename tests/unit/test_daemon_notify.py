"""The daemon's systemd notifications on a real datagram socket: WATCHDOG=1 only while the
scheduler's loop is healthy (a dead scheduler thread gets the daemon restarted, not kept alive
by pings from the main loop), and nothing at all without $NOTIFY_SOCKET."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from pathlib import Path

from jarvisctl.app.schedules import plan_schedule
from jarvisctl.config.project import load_project
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.notify import Notifier, take_from_environment
from jarvisctl.daemon.service import Daemon

PLAY = """\
- name: hourly
  hosts: localhost
  schedule: {every: 1h}
  checks:
    - use: uptime
"""


def pings(sock: socket.socket, seconds: float) -> int:
    """The WATCHDOG=1 datagrams received within `seconds`."""
    deadline = time.monotonic() + seconds
    count = 0
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            count += sock.recv(4096) == b"WATCHDOG=1"
        except TimeoutError:
            break
    return count


def test_watchdog_pings_stop_when_the_scheduler_loop_dies(tmp_path: Path) -> None:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "site.yml").write_text(PLAY)
    (tmp_path / "jarvisctl.yml").write_text("playbooks: [playbooks]\n")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    lines = io.StringIO()
    log = EventLog(lines, "json")
    project = load_project(tmp_path / "jarvisctl.yml")
    notifier = Notifier.from_environment(
        {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}, 1, log
    )
    assert notifier.watchdog_interval == 0.1
    daemon = Daemon(project, log, notifier=notifier)
    daemon.load(plan_schedule(project, secrets=daemon.secrets))
    loop = threading.Thread(target=daemon.run_until_stopped)
    loop.start()
    try:
        assert pings(listener, 1.0) >= 4
        # the scheduler's thread ends while the main loop goes on
        daemon.scheduler.shutdown(wait=False)
        pings(listener, 0.3)  # a ping already on its way
        assert pings(listener, 1.0) == 0
        events = [json.loads(line)["event"] for line in lines.getvalue().splitlines()]
        assert events.count("watchdog_withheld") == 1
        assert not daemon.snapshot().healthy
    finally:
        daemon.stop_requested.set()
        loop.join(10)
        listener.close()


def test_without_notify_socket_nothing_is_sent_and_children_do_not_inherit_it() -> None:
    assert Notifier.from_environment({}, 1).send("READY=1") is False
    assert Notifier.from_environment({"WATCHDOG_USEC": "1000000"}, 1).watchdog_interval == 0.5
    # the watchdog of another process (WATCHDOG_PID) is not ours to feed
    other = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "2"}
    assert Notifier.from_environment(other, 1).watchdog_interval is None
    environ = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "5", "PATH": "/bin"}
    assert take_from_environment(environ) == {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "5"}
    assert environ == {"PATH": "/bin"}
