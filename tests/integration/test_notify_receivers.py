"""Each receiver kind against a real receiver started by the test on loopback: an HTTP server
recording webhook, Slack and Apprise (json://) posts, aiosmtpd (plain, STARTTLS with AUTH, TLS),
and a real Alertmanager read back with amtool. The receivers come from jarvisctl.yml through
the real loader and resolver (secrets from env() and secret_file(), redacted)."""

from __future__ import annotations

import email
import email.policy
import time
from pathlib import Path

import pytest

from jarvisctl.config.project import load_project
from jarvisctl.core.alerts import Alert, AlertState, Labels, Notification
from jarvisctl.core.errors import ConfigError
from jarvisctl.core.secrets import SecretValues
from jarvisctl.notify.message import body, subject
from jarvisctl.notify.receivers.base import DeliveryError, SendContext
from jarvisctl.notify.resolve import Integration, resolve_receivers
from tests.notify_servers import (
    ALERTMANAGER,
    AMTOOL,
    Certificates,
    alertmanager,
    alertmanager_alerts,
    free_port,
    http_recorder,
    make_certificates,
    smtp_server,
)

NOW = time.time()
CONTEXT = SendContext(external_url="http://127.0.0.1:9469", hostname="controller.test")
DISK = Alert(
    Labels(
        {
            "alertname": "root disk",
            "check": "root disk",
            "host": "jetson-01",
            "play": "jetson health",
            "severity": "critical",
            "team": "vision",
        }
    ),
    Labels(
        {
            "summary": "93 % of / used",
            "value": "93",
            "threshold": "90",
            "remediations": "vacuum_journal: failed (exit 1)",
        }
    ),
    AlertState.FIRING,
    NOW - 600,
)
TEMPERATURE = Alert(
    Labels(
        {
            "alertname": "gpu temperature",
            "check": "gpu temperature",
            "host": "jetson-01",
            "play": "jetson health",
            "severity": "warning",
        }
    ),
    Labels({"value": "78", "threshold": "75"}),
    AlertState.RESOLVED,
    NOW - 1500,
    NOW - 60,
)


def notification(receiver: str, *alerts: Alert) -> Notification:
    return Notification(
        receiver,
        '0:{host="jetson-01"}',
        Labels({"host": "jetson-01"}),
        alerts or (DISK, TEMPERATURE),
        NOW,
    )


def integrations(
    root: Path, receivers: str, secrets: SecretValues | None = None
) -> dict[str, tuple[Integration, ...]]:
    """The project's receivers, resolved (every receiver routed from the root)."""
    names = [line.split(":")[0].strip() for line in receivers.splitlines() if line.strip()]
    (root / "jarvisctl.yml").write_text(
        "notify:\n  receivers:\n"
        + "".join(f"    {line}\n" for line in receivers.splitlines() if line.strip())
        + f"  route: {{receiver: {names[0]}}}\n"
    )
    project = load_project(root / "jarvisctl.yml")
    found = resolve_receivers(project, secrets or SecretValues())
    return {name: receiver.integrations for name, receiver in found.items()}


def send(integration: Integration, note: Notification) -> None:
    integration.kind.send(integration.params, note, CONTEXT)


# --- webhook ----------------------------------------------------------------------------


def test_a_webhook_gets_alertmanagers_webhook_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "tok-5ecret-value")
    secrets = SecretValues()
    with http_recorder() as recorder:
        found = integrations(
            tmp_path,
            f"hook: {{webhook: {{url: '{recorder.url}/hook', "
            "bearer_token: \"{{ env('HOOK_TOKEN') }}\"}}",
            secrets,
        )
        note = notification("hook")
        send(found["hook"][0], note)
    (post,) = recorder.at("/hook")
    assert post.headers["Idempotency-Key"] == note.key
    assert post.headers["Authorization"] == "Bearer tok-5ecret-value"
    assert post.headers["Content-Type"] == "application/json"
    sent = post.json()
    alerts = sent.pop("alerts")
    assert sent == {
        "version": "4",
        "groupKey": '0:{host="jetson-01"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "hook",
        "groupLabels": {"host": "jetson-01"},
        "commonLabels": {"host": "jetson-01", "play": "jetson health"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9469",
        "notificationKey": note.key,
    }
    assert [a["status"] for a in alerts] == ["firing", "resolved"]
    assert [a["fingerprint"] for a in alerts] == [DISK.fingerprint, TEMPERATURE.fingerprint]
    assert alerts[0]["labels"] == dict(DISK.labels)
    assert alerts[0]["annotations"]["value"] == "93"
    assert alerts[0]["endsAt"] == "0001-01-01T00:00:00Z"  # firing, as Alertmanager sends it
    assert alerts[1]["startsAt"].endswith("Z") and alerts[1]["endsAt"] != alerts[0]["endsAt"]
    assert alerts[0]["generatorURL"] == "http://127.0.0.1:9469"
    assert "tok-5ecret-value" in secrets.frozen()  # redacted wherever it could appear


def test_max_alerts_truncates_and_says_so(tmp_path: Path) -> None:
    with http_recorder() as recorder:
        found = integrations(
            tmp_path, f"hook: {{webhook: {{url: '{recorder.url}/h', max_alerts: 1}}}}"
        )
        send(found["hook"][0], notification("hook"))
    sent = recorder.at("/h")[0].json()
    assert len(sent["alerts"]) == 1 and sent["truncatedAlerts"] == 1


@pytest.mark.parametrize(
    ("answer", "retryable", "said"),
    [
        ((503, b"busy"), True, "answered 503 Service Unavailable: busy"),
        ((429, b""), True, "answered 429 Too Many Requests"),
        ((404, b"no_service"), False, "answered 404 Not Found: no_service"),
        ((400, b"invalid_payload"), False, "answered 400 Bad Request: invalid_payload"),
        ((302, b""), False, "answered 302 Found"),  # redirects are not followed
    ],
)
def test_an_answer_that_is_not_2xx_says_whether_to_retry(
    tmp_path: Path, answer: tuple[int, bytes], retryable: bool, said: str
) -> None:
    path = "/services/T000/B000/SECRETPATH"
    with http_recorder() as recorder:
        recorder.answers[path] = answer
        found = integrations(tmp_path, f"hook: {{webhook: {{url: '{recorder.url}{path}'}}}}")
        with pytest.raises(DeliveryError) as raised:
            send(found["hook"][0], notification("hook"))
    assert raised.value.retryable is retryable
    assert str(raised.value) == f"{recorder.url} {said}"  # never the path: it may be a token
    assert len(recorder.at(path)) == 1


def test_a_receiver_down_or_silent_is_retryable(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    found = integrations(tmp_path, f"hook: {{webhook: {{url: '{closed}/x/SECRET'}}}}")
    with pytest.raises(DeliveryError) as raised:
        send(found["hook"][0], notification("hook"))
    assert raised.value.retryable and str(raised.value) == f"{closed}: Connection refused"
    with http_recorder() as recorder:
        recorder.hang.add("/slow")
        recorder.hang_seconds = 2.0
        found = integrations(
            tmp_path, f"h: {{webhook: {{url: '{recorder.url}/slow', timeout: 300ms}}}}"
        )
        started = time.monotonic()
        with pytest.raises(DeliveryError) as raised:
            send(found["h"][0], notification("h"))
    assert time.monotonic() - started < 1.5
    assert raised.value.retryable
    assert str(raised.value) == f"{recorder.url} did not answer within 0.3 s"


# --- Slack --------------------------------------------------------------------------------


def test_slack_gets_an_incoming_webhook_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_recorder() as recorder:
        url = f"{recorder.url}/services/T000/B000/XXXX"
        monkeypatch.setenv("SLACK_WEBHOOK_URL", url)
        secrets = SecretValues()
        found = integrations(
            tmp_path,
            "ops: {slack: {url: \"{{ env('SLACK_WEBHOOK_URL') }}\", channel: '#ops', "
            "username: jarvis}}",
            secrets,
        )
        note = notification("ops")
        send(found["ops"][0], note)
        send(found["ops"][0], notification("ops", TEMPERATURE))
    first, resolved = (post.json() for post in recorder.at("/services/T000/B000/XXXX"))
    assert first["text"] == subject(note) == "[FIRING:1] host=jetson-01 (2 alerts)"
    (attachment,) = first["attachments"]
    assert attachment["color"] == "#d00000" and attachment["text"] == body(note)
    assert (first["channel"], first["username"]) == ("#ops", "jarvis")
    assert resolved["attachments"][0]["color"] == "#2eb886"
    assert resolved["text"] == "[RESOLVED] gpu temperature on jetson-01"
    assert url in secrets.frozen()


def test_the_message_says_what_where_since_when_value_and_remediations() -> None:
    text = body(notification("ops"))
    assert text.startswith("FIRING critical: root disk on jetson-01\n  93 % of / used\n")
    assert "  value 93 (threshold 90)\n" in text
    assert "  since " in text and "(10m ago)" in text
    assert "  play: jetson health; team=vision\n" in text
    assert "  remediations: vacuum_journal: failed (exit 1)" in text
    assert "RESOLVED warning: gpu temperature on jetson-01" in text
    assert "lasted 24m (from " in text


def test_a_rendered_url_that_is_not_one_is_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "hooks.slack.com/services/NOSCHEME")
    with pytest.raises(ConfigError) as raised:
        integrations(tmp_path, "ops: {slack: {url: \"{{ env('SLACK_WEBHOOK_URL') }}\"}}")
    (problem,) = raised.value.problems
    assert str(problem).endswith(
        "jarvisctl.yml:3:24: receiver 'ops': slack url: the rendered value is not an http:// "
        "or https:// URL with a host"
    )
    monkeypatch.delenv("SLACK_WEBHOOK_URL")
    with pytest.raises(ConfigError, match=r"receiver 'ops': slack url: .*SLACK_WEBHOOK_URL"):
        integrations(tmp_path, "ops: {slack: {url: \"{{ env('SLACK_WEBHOOK_URL') }}\"}}")


# --- email ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def parsed(content: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[return-value]


def test_email_over_plain_smtp(tmp_path: Path) -> None:
    with smtp_server("plain") as server:
        found = integrations(
            tmp_path,
            f"oncall: {{email: {{to: [oncall@example.com, b@example.com], "
            f"smtp: 'smtp://127.0.0.1:{server.port}', starttls: false}}}}",
        )
        note = notification("oncall")
        send(found["oncall"][0], note)
    (mail,) = server.mails
    assert mail.sender == "jarvisctl@controller.test" and not mail.tls and mail.login is None
    assert mail.recipients == ("oncall@example.com", "b@example.com")
    message = parsed(mail.content)
    assert message["Subject"] == subject(note)
    assert message["Message-ID"] == f"<{note.key}@controller.test>"
    assert message.get_content().replace("\r\n", "\n") == body(note)  # (CRLF on the wire)


def test_email_with_starttls_and_a_password_from_a_secret_file(
    tmp_path: Path, certificates: Certificates
) -> None:
    (tmp_path / "smtp-password").write_text("s3cret-pass\n")
    secrets = SecretValues()
    with smtp_server("starttls", certificates, password="s3cret-pass") as server:
        found = integrations(
            tmp_path,
            f"oncall: {{email: {{to: [oncall@example.com], from: jarvis@example.com, "
            f"smtp: 'smtp://127.0.0.1:{server.port}', username: jarvis, "
            "password: \"{{ secret_file('smtp-password') }}\", "
            f"ca_file: {certificates.ca_file}}}}}",
            secrets,
        )
        send(found["oncall"][0], notification("oncall"))
    (mail,) = server.mails
    assert mail.tls and mail.login == "jarvis" and mail.sender == "jarvis@example.com"
    assert "s3cret-pass" in secrets.frozen()


def test_email_refusals_say_why_and_whether_to_retry(
    tmp_path: Path, certificates: Certificates
) -> None:
    with smtp_server("starttls", certificates, password="right") as server:
        target = f"smtp://127.0.0.1:{server.port}"
        (tmp_path / "pw").write_text("wrong")
        wrong = integrations(
            tmp_path,
            f"a: {{email: {{to: [a@b], smtp: '{target}', username: u, "
            f"password: \"{{{{ secret_file('pw') }}}}\", ca_file: {certificates.ca_file}}}}}",
        )
        untrusted = integrations(tmp_path, f"a: {{email: {{to: [a@b], smtp: '{target}'}}}}")
        for found, retryable, said in (
            (wrong, False, f"{target} refused the login: 535 5.7.8 Authentication credentials"),
            (untrusted, False, f"{target}: its TLS certificate is not trusted"),
        ):
            with pytest.raises(DeliveryError) as raised:
                send(found["a"][0], notification("a"))
            assert raised.value.retryable is retryable
            assert str(raised.value).startswith(said), raised.value
    assert server.mails == []
    with smtp_server("plain") as plain:
        target = f"smtp://127.0.0.1:{plain.port}"
        found = integrations(tmp_path, f"a: {{email: {{to: [a@b], smtp: '{target}'}}}}")
        with pytest.raises(DeliveryError, match="does not offer STARTTLS") as raised:
            send(found["a"][0], notification("a"))
        assert not raised.value.retryable and plain.mails == []
    down = f"smtp://127.0.0.1:{free_port()}"
    found = integrations(tmp_path, f"a: {{email: {{to: [a@b], smtp: '{down}'}}}}")
    with pytest.raises(DeliveryError, match="Connection refused") as raised:
        send(found["a"][0], notification("a"))
    assert raised.value.retryable


def test_email_over_implicit_tls(tmp_path: Path, certificates: Certificates) -> None:
    with smtp_server("tls", certificates) as server:
        found = integrations(
            tmp_path,
            f"a: {{email: {{to: [a@b.example], smtp: 'smtps://127.0.0.1:{server.port}', "
            f"ca_file: {certificates.ca_file}}}}}",
        )
        send(found["a"][0], notification("a"))
    (mail,) = server.mails
    assert mail.tls and parsed(mail.content)["To"] == "a@b.example"


# --- Alertmanager ----------------------------------------------------------------------


NO_ALERTMANAGER = pytest.mark.skipif(
    ALERTMANAGER is None or AMTOOL is None,
    reason="prometheus-alertmanager missing (Debian package; scripts/test installs it)",
)


@NO_ALERTMANAGER
def test_alerts_reach_a_real_alertmanager_and_resolve_there(tmp_path: Path) -> None:
    with alertmanager(tmp_path) as url:
        found = integrations(tmp_path, f"am: {{alertmanager: {{url: '{url}/'}}}}")
        firing_too = Alert(TEMPERATURE.labels, TEMPERATURE.annotations, starts_at=NOW - 5)
        send(found["am"][0], notification("am", DISK, firing_too))
        send(found["am"][0], notification("am", DISK, firing_too))  # a retry: deduplicated
        held = {a["fingerprint"]: a for a in alertmanager_alerts(url)}
        assert set(held) == {DISK.fingerprint, TEMPERATURE.fingerprint}
        disk = held[DISK.fingerprint]
        assert disk["labels"] == dict(DISK.labels)
        assert disk["annotations"]["summary"] == "93 % of / used"
        assert disk["status"]["state"] == "active"
        assert disk["generatorURL"] == "http://127.0.0.1:9469"
        send(found["am"][0], notification("am", TEMPERATURE))  # resolved a minute ago
        assert [a["fingerprint"] for a in alertmanager_alerts(url)] == [DISK.fingerprint]


@NO_ALERTMANAGER
def test_a_bad_post_to_alertmanager_is_not_retried(tmp_path: Path) -> None:
    """Alertmanager refuses an alert without labels (422): retrying cannot help."""
    with alertmanager(tmp_path) as url:
        found = integrations(tmp_path, f"am: {{alertmanager: {{url: '{url}'}}}}")
        with pytest.raises(DeliveryError) as raised:
            send(found["am"][0], notification("am", Alert(Labels())))
    assert not raised.value.retryable and "answered 4" in str(raised.value)


# --- Apprise ----------------------------------------------------------------------------


def test_apprise_urls_each_a_part_of_their_own(tmp_path: Path) -> None:
    with http_recorder() as recorder:
        host = recorder.url.removeprefix("http://")
        found = integrations(
            tmp_path, f"sms: {{apprise: ['json://{host}/one', 'json://{host}/two?rto=2']}}"
        )
        one, two = found["sms"]
        assert (one.part, two.part) == (0, 1)
        note = notification("sms")
        send(one, note)
        send(two, notification("sms", TEMPERATURE))
        recorder.answers["/one"] = (500, b"down")
        with pytest.raises(DeliveryError) as raised:
            send(one, note)
    first = recorder.at("/one")[0].json()
    assert (first["title"], first["message"], first["type"]) == (
        subject(note),
        body(note).rstrip("\n"),  # (Apprise strips the last line break)
        "failure",
    )
    assert recorder.at("/two")[0].json()["type"] == "success"
    assert raised.value.retryable
    assert str(raised.value).startswith("Apprise could not send to URL 1 (json://...)")


def test_an_url_apprise_cannot_use_is_not_retried(tmp_path: Path) -> None:
    found = integrations(tmp_path, "sms: {apprise: ['nosuchscheme://x/y']}")
    with pytest.raises(DeliveryError, match=r"URL 1 \(nosuchscheme://...\) is not one") as raised:
        send(found["sms"][0], notification("sms"))
    assert not raised.value.retryable
