"""The daemon's alert API (/alerts, /silences) on its real HTTP server, over a real project and
SQLite store: reads open, writes only with the configured bearer token (none configured: 403
saying how; a missing or wrong one: 401), each write recorded as a run; hostile requests (not
JSON, wrong types, unknown fields, nested too deeply, too long, chunked, cut short, sent a byte
at a time) answered 4xx with a JSON error and no traceback, without holding a worker; a secret
never in an answer; and the alert and outbox series of /metrics."""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jarvisctl.config.project import Project, load_project
from jarvisctl.core.alerts import Alert, Labels, Notification
from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.api import MAX_BODY, AlertsApi
from jarvisctl.daemon.http import DaemonHTTPServer, HttpLimits, serve
from jarvisctl.daemon.logs import EventLog
from jarvisctl.daemon.snapshot import Snapshot
from jarvisctl.store.factory import open_store

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "jarvisctl/render/schemas"
ALERTS_SCHEMA = json.loads((SCHEMAS / "alerts.schema.json").read_text())
SILENCES_SCHEMA = json.loads((SCHEMAS / "silences.schema.json").read_text())
TOKEN = "t0ken-0f-the-daemon-9c1d7e55aa"
NOW = time.time()
DISK = Alert(
    Labels({"alertname": "root disk", "check": "root disk", "host": "j1", "severity": "critical"}),
    starts_at=NOW - 60,
)
GPU = Alert(
    Labels({"alertname": "gpu", "check": "gpu", "host": "j2", "severity": "warning"}),
    starts_at=NOW - 30,
)


@dataclass
class Api:
    server: DaemonHTTPServer
    project: Project
    log: io.StringIO

    def runs(self) -> list[list[dict[str, Any]]]:
        folder = self.project.state_dir / "runs"
        files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
        return [[json.loads(line) for line in f.read_text().splitlines()] for f in files]


def snapshot() -> Snapshot:
    return Snapshot(time.time(), NOW - 100, True, 60.0, (), (), connections_open=0)


def start(tmp_path: Path, token: str | None, timeout: float = 10.0, workers: int = 4) -> Api:
    (tmp_path / "jarvisctl.yml").write_text(
        "notify:\n  receivers: {ops: {webhook: {url: http://127.0.0.1:9/h}}, quiet: "
        "{webhook: {url: http://127.0.0.1:9/q}}}\n  route: {receiver: ops}\n"
    )
    project = load_project(tmp_path / "jarvisctl.yml")
    alerts = open_store(project.state_dir).alerts
    for alert in (DISK, GPU):
        alerts.record(alert, alert.starts_at)
    secrets = SecretValues()
    if token is not None:
        secrets.add(token)
    log = io.StringIO()
    events = EventLog(log, "json")
    api = AlertsApi(lambda: project, token, secrets, events)
    limits = HttpLimits(timeout=timeout, workers=workers, connections=16)
    server, _ = serve(("127.0.0.1", 0), snapshot, events, secrets, limits, api)
    return Api(server, project, log)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    made = start(tmp_path, TOKEN)
    yield made
    made.server.shutdown()
    made.server.server_close()


def call(
    api: Api,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = TOKEN,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    host, port = api.server.server_address
    connection = http.client.HTTPConnection(host, port, timeout=10)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    connection.request(method, path, body=data, headers=sent)
    answer = connection.getresponse()
    text = answer.read()
    connection.close()
    assert answer.getheader("Content-Type") == "application/json"
    return answer.status, json.loads(text), dict(answer.getheaders())


def test_reads_are_open_and_valid_against_the_schemas(api: Api) -> None:
    code, alerts, _ = call(api, "GET", "/alerts", token=None)
    assert code == 200
    jsonschema.validate(alerts, ALERTS_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert [a["fingerprint"] for a in alerts] == [DISK.fingerprint, GPU.fingerprint]
    code, silences, _ = call(api, "GET", "/silences?all=1", token=None)
    assert (code, silences) == (200, [])
    code, error, _ = call(api, "GET", "/alerts?all=maybe", token=None)
    assert (code, error["field"]) == (400, "all")
    code, error, _ = call(api, "GET", "/alerts?all=1&since=forever", token=None)
    assert code == 400 and error["error"].startswith("since: invalid duration 'forever'")
    code, error, _ = call(api, "GET", "/alerts/nope", token=None)
    assert code == 404 and "/alerts/{id}/ack" in error["paths"]
    code, error, headers = call(api, "PUT", "/silences", {"matchers": []})
    assert (code, headers["Allow"]) == (405, "GET, POST, DELETE")
    code, error, _ = call(api, "POST", "/alerts", {"by": "x"})
    assert code == 404 and error["error"] == "no POST '/alerts' here"


def test_a_write_without_the_right_token_is_refused_and_changes_nothing(api: Api) -> None:
    ack = f"/alerts/{DISK.fingerprint}/ack"
    for token, why in ((None, "requires the header"), ("wrong" * 6, "is not the daemon's")):
        code, error, headers = call(api, "POST", ack, {"by": "eve"}, token=token)
        assert code == 401 and why in error["error"]
        assert headers["WWW-Authenticate"].startswith('Bearer realm="jarvisctl"')
    code, _, _ = call(api, "POST", ack, {"by": "eve"}, token=None, headers={"Authorization": TOKEN})
    assert code == 401  # not a Bearer credential
    code, _, _ = call(api, "POST", ack, {"by": "eve"}, token=TOKEN[:-1])
    assert code == 401
    code, _, _ = call(api, "DELETE", "/silences/x", token="")
    assert code == 401
    assert api.runs() == []
    assert not any(s.acknowledged for s in open_store(api.project.state_dir).alerts.firing())
    refused = [json.loads(line) for line in api.log.getvalue().splitlines()]
    assert {r["event"] for r in refused} == {"api_write_refused"}
    assert TOKEN not in api.log.getvalue() and "wrongwrong" not in api.log.getvalue()


def test_with_no_token_configured_every_write_is_refused_saying_how(tmp_path: Path) -> None:
    made = start(tmp_path, None)
    try:
        code, error, _ = call(made, "POST", "/silences", {"matchers": ["host=a"]}, token="x" * 20)
        assert code == 403
        assert "daemon: {http: {token: \"{{ env('JARVISCTL_API_TOKEN') }}\"}}" in error["error"]
        assert call(made, "GET", "/alerts", token=None)[0] == 200  # reads stay open
        assert made.runs() == []
    finally:
        made.server.shutdown()
        made.server.server_close()


def test_ack_with_the_token_is_kept_and_recorded_as_a_daemon_run(api: Api) -> None:
    body = {"by": "ana", "comment": f"on it; the token {TOKEN} pasted by mistake"}
    code, answer, _ = call(api, "POST", f"/alerts/{DISK.fingerprint[:5]}/ack", body)
    assert code == 200, answer
    acked = answer["alert"]["acknowledged"]
    assert (acked["by"], acked["comment"]) == ("ana", "on it; the token *** pasted by mistake")
    (stored,) = [s for s in open_store(api.project.state_dir).alerts.firing() if s.acknowledged]
    assert stored.ack_comment == "on it; the token *** pasted by mistake"  # never stored
    (run,) = api.runs()
    assert run[0]["data"]["source"] == "daemon" and run[0]["data"]["arguments"][:2] == [
        "api",
        "ack",
    ]
    assert [r["kind"] for r in run] == ["run_started", "alert_ack", "run_finished"]
    assert run[0]["data"]["run_id"] == answer["run_id"]
    assert TOKEN not in json.dumps(run)
    code, error, _ = call(api, "POST", "/alerts/ffff/ack", {"by": "ana"})
    assert code == 404 and error["error"].startswith("no firing alert 'ffff' (firing: ")
    code, error, _ = call(api, "POST", f"/alerts/{DISK.fingerprint}/ack", {"comment": "x"})
    assert (code, error["field"]) == (400, "by")


def test_silences_are_added_listed_and_expired(api: Api) -> None:
    body = {
        "matchers": ['host=~"j.*"', 'check="gpu"'],
        "duration": "2h",
        "comment": "fan swap",
        "created_by": "ana",
    }
    code, answer, _ = call(api, "POST", "/silences", body)
    assert code == 201, answer
    silence = answer["silence"]
    jsonschema.validate([silence], SILENCES_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert silence["matchers"] == ['host=~"j.*"', 'check="gpu"'] and silence["state"] == "active"
    _, alerts, _ = call(api, "GET", "/alerts", token=None)
    gpu = next(a for a in alerts if a["fingerprint"] == GPU.fingerprint)
    assert gpu["silenced"] and gpu["silenced_by"][0]["id"] == silence["id"]
    starts = time.time() + 3600
    timed = {**body, "duration": None, "starts_at": starts, "ends_at": "2099-01-01T00:00:00Z"}
    code, answer, _ = call(api, "POST", "/silences", {k: v for k, v in timed.items() if v})
    assert code == 201 and answer["silence"]["state"] == "pending"
    code, listed, _ = call(api, "GET", "/silences", token=None)
    assert [s["id"] for s in listed] == [silence["id"], answer["silence"]["id"]]
    code, done, _ = call(api, "DELETE", f"/silences/{silence['id'][:8]}")
    assert code == 200 and done["silence"]["state"] == "expired"
    code, error, _ = call(api, "DELETE", f"/silences/{silence['id']}")
    assert code == 409 and "has already ended" in error["error"]
    code, error, _ = call(api, "DELETE", "/silences/nope")
    assert code == 404
    kinds = [[r["kind"] for r in run] for run in api.runs()]
    assert kinds == [["run_started", "silence", "run_finished"]] * 3


@pytest.mark.parametrize(
    ("raw", "code", "said"),
    [
        (b"{not json", 400, "the body is not JSON: "),
        (b"[1, 2]", 400, "the body must be a JSON object"),
        (b"\xff\xfe{}", 400, "the body is not JSON: "),
        (b"[" * 20000 + b"]" * 20000, 413, "at most"),
        (b"[" * 5000 + b"]" * 5000, 400, "the body"),
        (json.dumps({"matchers": "host=a"}).encode(), 400, "matchers: expected a list of strings"),
        (json.dumps({"matchers": ["host=a"], "sneaky": 1}).encode(), 400, "unknown field 'sneaky'"),
        (
            json.dumps({"matchers": ['host=~"(x"'], "duration": "1h", "comment": "c",
                        "created_by": "a"}).encode(),
            400,
            "matchers[0]: invalid regex",
        ),
        (
            json.dumps({"matchers": ["host=a"], "duration": "1h", "ends_at": "2099-01-01",
                        "comment": "c", "created_by": "a"}).encode(),
            400,
            "duration: give how long (a duration) or when it ends, one of them",
        ),
        (
            json.dumps({"matchers": ["host=a"], "duration": 1e400, "comment": "c",
                        "created_by": "a"}).replace("Infinity", "1e400").encode(),
            400,
            "duration: ",
        ),
        (
            json.dumps({"matchers": ["host=a"], "duration": True, "comment": "c",
                        "created_by": "a"}).encode(),
            400,
            "duration: expected text",
        ),
        (
            json.dumps({"matchers": ["host=a"], "duration": "1h", "comment": 5,
                        "created_by": "a"}).encode(),
            400,
            "comment: expected a string",
        ),
        (
            json.dumps({"matchers": ["host=a"], "ends_at": "soon", "comment": "c",
                        "created_by": "a"}).encode(),
            400,
            "ends_at: 'soon' is not a time",
        ),
    ],
)  # fmt: skip
def test_a_hostile_body_is_a_4xx_with_a_json_error(
    api: Api, raw: bytes, code: int, said: str
) -> None:
    answered, error, _ = call(api, "POST", "/silences", raw=raw)
    assert answered == code, error
    assert said in error["error"], error
    assert "Traceback" not in json.dumps(error)
    assert api.runs() == []
    assert '"level": "error"' not in api.log.getvalue()  # nothing went wrong inside


def raw_request(api: Api, data: bytes, then: bytes = b"", pause: float = 0.0) -> bytes:
    with socket.create_connection(api.server.server_address, timeout=10) as sock:
        sock.sendall(data)
        if then:
            time.sleep(pause)
            sock.sendall(then)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def head(length: int | str, extra: str = "") -> bytes:
    return (
        f"POST /silences HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\n{extra}Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_too_long_or_chunked_is_refused_before_it_is_read(api: Api) -> None:
    answer = raw_request(api, head(MAX_BODY + 1) + b"{" * 1000)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"at most 32768" in answer
    answer = raw_request(api, head(10**11))
    assert answer.startswith(b"HTTP/1.1 413 ")
    chunked = (
        f"POST /silences HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    ).encode()
    assert raw_request(api, chunked).startswith(b"HTTP/1.1 411 ")
    assert raw_request(api, head("-5")).startswith(b"HTTP/1.1 400 ")


def test_a_body_cut_short_times_out_without_holding_a_worker(tmp_path: Path) -> None:
    made = start(tmp_path, TOKEN, timeout=1.0, workers=1)
    try:
        with socket.create_connection(made.server.server_address, timeout=10) as slow:
            slow.sendall(head(100) + b'{"matchers": ')  # and nothing more
            began = time.monotonic()
            # the one worker is free meanwhile: the selector holds the slow body
            assert call(made, "GET", "/alerts", token=None)[0] == 200
            assert time.monotonic() - began < 0.9
            assert slow.recv(65536) == b""  # closed at its deadline, unanswered
        assert made.server.counts.read().get("timed_out") == 1
        body = json.dumps(
            {"matchers": ["host=a"], "duration": "1h", "comment": "c", "created_by": "a"}
        ).encode()
        trickled = raw_request(made, head(len(body)) + body[:10], body[10:], pause=0.3)
        assert trickled.startswith(b"HTTP/1.1 201 ")  # slow but within the timeout: served
    finally:
        made.server.shutdown()
        made.server.server_close()


def test_metrics_count_alerts_by_severity_and_each_receivers_outbox(api: Api) -> None:
    outbox = open_store(api.project.state_dir).alerts
    notification = Notification("ops", "g", Labels(), (DISK,), NOW)
    outbox.enqueue(notification, ["ops/webhook/0", "ops/slack/0"])
    outbox.failed(notification.key, "ops/webhook/0", NOW, "refused", NOW + 10)
    outbox.delivered(notification.key, "ops/webhook/0", NOW + 10)
    outbox.failed(notification.key, "ops/slack/0", NOW, "404", None)  # given up
    later = Notification("ops", "g", Labels(), (GPU,), NOW + 1)
    outbox.enqueue(later, ["ops/webhook/0"])
    host, port = api.server.server_address
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert found[("jarvisctl_alerts_firing", (("severity", "critical"),))] == 1
    assert found[("jarvisctl_alerts_firing", (("severity", "warning"),))] == 1
    assert found[("jarvisctl_alerts_firing", (("severity", "unknown"),))] == 0
    ops, quiet = (("receiver", "ops"),), (("receiver", "quiet"),)
    assert found[("jarvisctl_notifications_sent_total", ops)] == 1
    assert found[("jarvisctl_notifications_failed_total", ops)] == 2
    assert found[("jarvisctl_notifications_given_up_total", ops)] == 1
    assert found[("jarvisctl_notifications_pending", ops)] == 1
    assert found[("jarvisctl_notifications_sent_total", quiet)] == 0  # declared, nothing sent
