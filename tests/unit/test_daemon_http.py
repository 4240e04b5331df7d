"""What the daemon shows: /healthz, /metrics (Prometheus text), /status, and its log lines."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jarvisctl.core.dispatch import Dispatcher
from jarvisctl.core.events import BATCH, COMMAND
from jarvisctl.daemon.health import RELOAD, ConfigHealth
from jarvisctl.daemon.http import DaemonHTTPServer, HttpLimits, ListenError, serve
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.metrics import render_metrics
from jarvisctl.daemon.observe import Observations
from jarvisctl.daemon.snapshot import JobView, Snapshot
from tests.events import check, connected, unreachable
from tests.events import raw as raw_event

NOW = 1_795_500_000.0


def observed() -> tuple[Observations, io.StringIO]:
    lines = io.StringIO()
    seen = Observations(EventLog(lines, "json"), clock=lambda: NOW)
    seen.emit(connected("web1", "health", at=NOW - 5))
    seen.emit(check("web1", "health", "root disk", 91.5, "%", "critical", at=NOW - 4))
    seen.emit(unreachable("db1", "health", "timed out", at=NOW - 3))
    seen.job_started("site.yml::health")
    seen.job_finished("site.yml::health", "not_ok", 1.25)
    seen.job_missed("site.yml::health")
    return seen, lines


def snapshot(next_fire: float = NOW + 10, running: bool = True) -> Snapshot:
    seen, _ = observed()
    stats = seen.jobs()["site.yml::health"]
    job = JobView(
        "site.yml::health",
        "/srv/site.yml",
        "health",
        "every 30s",
        datetime.fromtimestamp(next_fire, timezone.utc),
        stats,
    )
    return Snapshot(NOW, NOW - 100, running, 60.0, (job,), seen.hosts(), connections_open=1)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_per_check_per_job_and_for_the_daemon() -> None:
    found = samples(render_metrics(snapshot()).decode())
    check = (("check", "root disk"), ("host", "web1"), ("play", "health"))
    job = (("play", "health"), ("playbook", "site.yml"))  # not `job`: Prometheus's own label
    assert found[("jarvisctl_check_value", (*check, ("unit", "%")))] == 91.5
    assert found[("jarvisctl_check_status", (*check, ("status", "critical")))] == 1
    assert found[("jarvisctl_check_status", (*check, ("status", "ok")))] == 0
    assert found[("jarvisctl_check_status_code", check)] == 2
    assert found[("jarvisctl_job_last_duration_seconds", job)] == 1.25
    assert found[("jarvisctl_job_last_run_timestamp_seconds", job)] == NOW
    assert found[("jarvisctl_job_last_outcome", tuple(sorted((*job, ("outcome", "not_ok")))))] == 1
    assert found[("jarvisctl_job_last_outcome", tuple(sorted((*job, ("outcome", "ok")))))] == 0
    assert found[("jarvisctl_job_runs_total", tuple(sorted((*job, ("outcome", "not_ok")))))] == 1
    assert found[("jarvisctl_job_misses_total", job)] == 1
    assert found[("jarvisctl_daemon_uptime_seconds", ())] == 100
    assert found[("jarvisctl_connections_open", ())] == 1
    assert found[("jarvisctl_host_reachable", (("host", "db1"),))] == 0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus)")
def test_metrics_pass_promtool() -> None:
    checked = subprocess.run(
        ["promtool", "check", "metrics"],
        input=render_metrics(snapshot()),
        capture_output=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_health_is_bad_when_a_job_is_overdue_or_the_scheduler_stopped() -> None:
    assert snapshot().healthy
    late = snapshot(next_fire=NOW - 61)
    assert not late.healthy and late.overdue == ("site.yml::health",)
    assert snapshot(next_fire=NOW - 59).healthy  # within the misfire grace time
    assert not snapshot(running=False).healthy


def test_unreachable_is_logged_once_per_change() -> None:
    seen, lines = observed()
    for _ in range(3):
        seen.emit(unreachable("db1", "health", "timed out"))
    seen.emit(connected("db1", "health"))
    seen.emit(connected("db1", "health"))
    events = [json.loads(line) for line in lines.getvalue().splitlines()]
    about_db1 = [e["event"] for e in events if e.get("host") == "db1"]
    assert about_db1 == ["host_unreachable", "host_reachable"]


def test_log_lines_are_logfmt_or_json() -> None:
    text, js = io.StringIO(), io.StringIO()
    EventLog(text).info("job_finished", job="a b", outcome="ok", seconds=1.5, hosts=["x"])
    EventLog(js, "json").info("job_finished", job="a b")
    assert text.getvalue().split(" ", 1)[1] == (
        'level=info event=job_finished job="a b" outcome=ok seconds=1.5 hosts="[\\"x\\"]"\n'
    )
    assert json.loads(js.getvalue())["job"] == "a b"


@pytest.fixture
def server() -> Iterator[DaemonHTTPServer]:
    state = {"snapshot": snapshot()}
    running, _ = serve(("127.0.0.1", 0), lambda: state["snapshot"], EventLog(io.StringIO()))
    running.state = state  # type: ignore[attr-defined]
    yield running
    running.shutdown()
    running.server_close()


def get(server: DaemonHTTPServer, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_endpoints(server: DaemonHTTPServer) -> None:
    code, kind, body = get(server, "/healthz")
    assert (code, kind, json.loads(body)["status"]) == (200, "application/json", "ok")
    code, kind, body = get(server, "/metrics")
    assert code == 200 and kind.startswith("text/plain; version=0.0.4")
    assert b"jarvisctl_job_runs_total" in body
    status = json.loads(get(server, "/status")[2])
    assert status["jobs"][0]["next_fire_time"].startswith("2026-")
    assert status["hosts"]["db1"]["reachable"] is False
    assert status["hosts"]["web1"]["checks"][0]["status"] == "critical"
    assert get(server, "/nope")[0] == 404
    server.state["snapshot"] = snapshot(next_fire=NOW - 600)  # type: ignore[attr-defined]
    code, _, body = get(server, "/healthz")
    assert code == 503 and json.loads(body)["overdue"] == ["site.yml::health"]


def test_a_taken_port_is_an_error_that_says_what_to_do(server: DaemonHTTPServer) -> None:
    port = server.server_address[1]
    with pytest.raises(ListenError, match=f"daemon.listen 127.0.0.1:{port}: cannot listen"):
        DaemonHTTPServer(("127.0.0.1", port), snapshot, EventLog(io.StringIO()))


def test_a_configuration_fault_degrades_health_and_is_logged_once() -> None:
    lines = io.StringIO()
    health = ConfigHealth(EventLog(lines, "json"), clock=lambda: NOW)
    problem = "playbooks/site.yml:8:13: 'warn': invalid threshold 'lots'"
    assert health.failed("site.yml::health", [problem]) == (problem,)
    assert health.failed("site.yml::health", [problem]) == ()  # the next fire: not news
    assert health.failed(RELOAD, [problem]) == ()  # the same mistake, found by a SIGHUP
    degraded = replace(snapshot(), config_faults=health.faults())
    assert not degraded.healthy
    body = degraded.health_json()
    assert body["status"] == "degraded" and problem in body["reasons"][0]
    found = samples(render_metrics(degraded).decode())
    assert found[("jarvisctl_config_ok", ())] == 0
    assert found[("jarvisctl_config_error_timestamp_seconds", ())] == NOW
    health.recovered_all()
    assert health.faults() == ()
    recovered = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [e["source"] for e in recovered] == ["site.yml::health", RELOAD]


def raw(server: DaemonHTTPServer, request: bytes) -> bytes:
    with socket.create_connection(server.server_address, timeout=5) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):  # the server closes after one answer
            reply += chunk
        return reply


def test_one_request_per_connection_and_bad_heads_refused(server: DaemonHTTPServer) -> None:
    reply = raw(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in reply
    assert raw(server, b"BREW /pot HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 501 ")
    assert raw(server, b"GET / HTTP/9.9\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    assert raw(server, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(server, b"GET /" + b"a" * 20000).startswith(b"HTTP/1.1 431 ")
    counts = server.http_counts().connections
    assert counts["served"] == 1 and counts["too_large"] == 1 and counts["accepted"] == 5


def test_too_many_waiting_clients_close_the_oldest_and_a_full_queue_is_503() -> None:
    release = threading.Event()

    def slow_snapshot() -> Snapshot:
        release.wait(10)
        return snapshot()

    limits = HttpLimits(timeout=5.0, workers=1, connections=4)
    running, _ = serve(("127.0.0.1", 0), slow_snapshot, EventLog(io.StringIO()), limits=limits)
    try:
        idle = [socket.create_connection(running.server_address, timeout=5) for _ in range(10)]
        time.sleep(0.5)
        assert running.http_counts().waiting <= 4
        # the oldest six were closed to admit the newer ones
        for sock in idle[:6]:
            assert sock.recv(1) == b""
        # one request is being answered (slowly), four wait in the queue, the next is refused
        asking = []
        for _ in range(6):
            asking.append(socket.create_connection(running.server_address, timeout=5))
            asking[-1].sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
            time.sleep(0.05)
        assert asking[-1].recv(100).startswith(b"HTTP/1.1 503 ")
        release.set()
        assert asking[0].recv(100).startswith(b"HTTP/1.1 200 ")
        counts = running.http_counts().connections
        assert counts["evicted"] >= 6 and counts["refused"] == 1
        for sock in idle + asking:
            sock.close()
    finally:
        release.set()
        running.shutdown()
        running.server_close()


def test_health_names_each_job_that_cannot_run_and_why() -> None:
    unscheduled = replace(snapshot().jobs[0], id="site.yml::nightly", next_fire_time=None)
    seen, _ = observed()
    seen.job_started("site.yml::backup")
    seen.job_finished("site.yml::backup", "error", 0.5, "the state database is locked")
    failing = replace(
        snapshot().jobs[0], id="site.yml::backup", stats=seen.jobs()["site.yml::backup"]
    )
    snap = replace(snapshot(), jobs=(snapshot().jobs[0], unscheduled, failing))
    assert not snap.healthy
    body = snap.health_json()
    assert body["status"] == "unhealthy"
    assert body["failing_jobs"] == [
        {
            "job": "site.yml::nightly",
            "reasons": ["not scheduled: its schedule (every 30s) gives no next fire time"],
        },
        {
            "job": "site.yml::backup",
            "reasons": ["its last fire made no run (error): the state database is locked"],
        },
    ]
    assert body["reasons"][1] == (
        "job site.yml::backup: its last fire made no run (error): the state database is locked"
    )
    # the next fire that runs clears it
    seen.job_started("site.yml::backup")
    seen.job_finished("site.yml::backup", "ok", 0.5)
    recovered = replace(failing, stats=seen.jobs()["site.yml::backup"])
    assert replace(snapshot(), jobs=(recovered,)).healthy


def test_the_daemon_s_observations_are_queued_only_the_events_they_read() -> None:
    """A cycle's events are mostly its hosts' commands: they are not even queued to the
    observations' sink thread, while what they show (hosts, checks) still arrives."""
    seen = Observations(EventLog(io.StringIO(), "json"), clock=lambda: NOW)
    dispatcher = Dispatcher([("observations", seen)], warn=lambda text: None)
    (feed,) = dispatcher.feeds
    dispatcher.emit(connected("web1", "health", at=NOW - 5))
    for _ in range(20):
        dispatcher.emit(raw_event(COMMAND, "web1", "health", {"check": "root disk"}))
    dispatcher.emit(raw_event(BATCH, "web1", "health", {"commands": 20}))
    dispatcher.emit(check("web1", "health", "root disk", 91.5, "%", "critical", at=NOW - 4))
    dispatcher.close("run")
    assert (feed.accepted, feed.done, feed.failures) == (2, 2, 0)
    (host,) = seen.hosts()
    assert (host.host, host.reachable, [c.value for c in host.checks]) == ("web1", True, [91.5])
