"""SIGHUP and `notify:`, end to end: a real daemon against the sshd test hosts and a real HTTP
receiver on loopback.

- A `notify:` broken on reload (a route naming an unknown receiver; a receiver whose secret's
  variable is not set) is refused as any broken reload is: `reload_failed` with the mistake's
  file, line and column, /healthz 503 saying it, and the running configuration keeps telling.
- A good reload takes effect for the next notification: a new route sends a host's alerts to a
  new receiver, and a receiver's changed URL carries the resolution of an alert told before
  the reload (its group goes on)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost
from tests.e2e.test_daemon import DaemonProject, daemon_with_services
from tests.e2e.test_daemon_notify_outage import PLAYBOOK
from tests.e2e.test_remediation import Services
from tests.notify_servers import Recorder, http_recorder
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

UNSET = "JARVIS_TEST_NOTIFY_RELOAD_UNSET"

ROUTE = """\
  route:
    receiver: {receiver}
    group_by: [host]
    group_wait: 1s
    group_interval: 2s
    repeat_interval: 1h
"""


@pytest.fixture
def fleet(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[tuple[DaemonProject, Services]]:
    with daemon_with_services(tmp_path, sshd_fleet, sshd_hosts) as (daemon, services):
        (daemon.root / "playbooks" / "web.yml").write_text(PLAYBOOK)
        yield daemon, services


def write_notify(daemon: DaemonProject, text: str) -> str:
    """jarvisctl.yml with this `notify:`; the file's text."""
    config = daemon.root / "jarvisctl.yml"
    whole = config.read_text().split("notify:")[0] + "notify:\n" + text
    config.write_text(whole)
    return whole


def located(whole: str, needle: str) -> str:
    """`jarvisctl.yml:LINE:COLUMN:` of the first `needle` in the file's text."""
    for number, line in enumerate(whole.splitlines(), 1):
        if needle in line:
            return f"jarvisctl.yml:{number}:{line.index(needle) + 1}:"
    raise AssertionError(f"{needle!r} is not in the file")


def hosts_told(recorder: Recorder, path: str) -> list[tuple[str, str]]:
    return [
        (post.json()["groupLabels"]["host"], post.json()["status"])
        for post in recorder.accepted(path)
    ]


def reload(daemon: DaemonProject, event: str, seen: int) -> list[dict[str, object]]:
    """SIGHUP, and the log's `event` lines once there are more than `seen`."""
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    return list(
        wait_for(
            lambda: len(daemon.log_events(event)) > seen and daemon.log_events(event), 30, event
        )
    )


def test_sighup_reloads_notify_and_a_broken_notify_keeps_the_old(
    fleet: tuple[DaemonProject, Services], sshd_hosts: list[SshdHost]
) -> None:
    daemon, services = fleet
    a, b, c = (host.name for host in sshd_hosts[:3])
    with http_recorder() as recorder:
        hook = f"    hook: {{webhook: {{url: '{recorder.url}/hook'}}}}\n"
        write_notify(daemon, "  receivers:\n" + hook + ROUTE.format(receiver="hook"))
        daemon.start()
        wait_for(lambda: len(daemon.finished_cycles()) >= 1, 30, "a first cycle")
        services.kill(a)
        wait_for(lambda: hosts_told(recorder, "/hook") == [(a, "firing")], 30, "a's alert told")

        # broken: a route naming no receiver (the language's mistake)
        whole = write_notify(daemon, "  receivers:\n" + hook + ROUTE.format(receiver="nosuch"))
        (failed,) = reload(daemon, "reload_failed", 0)
        where = located(whole, "nosuch")
        assert str(failed["problem"]).endswith(
            f"{where} route: unknown receiver 'nosuch' (a receiver declared under notify: "
            "receivers:; known: hook)"
        )
        code, body = daemon.get("/healthz")
        assert code == 503
        assert any(where in reason for reason in json.loads(body)["reasons"])

        # broken: a receiver whose secret's variable is not set (found resolving receivers)
        other = (
            f"    other: {{webhook: {{url: '{recorder.url}/other', "
            f"bearer_token: \"{{{{ env('{UNSET}') }}}}\"}}}}\n"
        )
        whole = write_notify(
            daemon, "  receivers:\n" + hook + other + ROUTE.format(receiver="other")
        )
        failed = reload(daemon, "reload_failed", 1)[-1]
        assert located(whole, '"{{ env(') in str(failed["problem"])
        assert f"environment variable '{UNSET}' is not set" in str(failed["problem"])
        assert daemon.get("/healthz")[0] == 503

        # the running configuration still tells, as it was
        services.kill(b)
        wait_for(lambda: (b, "firing") in hosts_told(recorder, "/hook"), 30, "b's alert told")
        assert recorder.at("/other") == []

        # fixed: hook's URL changed, and c's alerts routed to a new receiver
        hook2 = f"    hook: {{webhook: {{url: '{recorder.url}/hook2'}}}}\n"
        other = f"    other: {{webhook: {{url: '{recorder.url}/other'}}}}\n"
        routes = f"    routes:\n      - {{matchers: ['host=\"{c}\"'], receiver: other}}\n"
        write_notify(
            daemon, "  receivers:\n" + hook2 + other + ROUTE.format(receiver="hook") + routes
        )
        (reloaded,) = reload(daemon, "notifications_reloaded", 0)
        assert reloaded["receivers"] == ["hook", "other"]
        wait_for(lambda: daemon.get("/healthz")[0] == 200, 30, "the daemon healthy again")

        services.kill(c)
        wait_for(lambda: hosts_told(recorder, "/other") == [(c, "firing")], 30, "c told to other")
        services.start(a)  # a's group (told before the reload) resolves at hook's new URL
        wait_for(lambda: hosts_told(recorder, "/hook2") == [(a, "resolved")], 30, "a resolved")
        assert hosts_told(recorder, "/hook") == [(a, "firing"), (b, "firing")]
    assert daemon.stop() == 0
    assert daemon.log_events("notification_given_up") == []
    assert len(daemon.log_events("reload_failed")) == 2
