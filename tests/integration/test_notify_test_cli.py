"""`jarvisctl notify test RECEIVER` against real receivers on loopback (an HTTP server recording
webhook and Slack posts, aiosmtpd): each part of the receiver is sent the test notification now
and says what it answered; a receiver down or refusing says so (temporary or permanent) and
exits 1; the secret URLs never appear in the output nor in the journal; the test is recorded as
a run. An unknown receiver is a usage error naming the declared ones."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli
from tests.notify_servers import Recorder, free_port, http_recorder, smtp_server

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/notify-test.schema.json").read_text())
HOOK_SECRET = "T0KEN-in-the-hook-path-4f1c9e"
SLACK_SECRET = "B00000000/XXXXslack-secret-77aa"


def project_file(tmp_path: Path, recorder: Recorder, smtp_port: int) -> Path:
    down = free_port()  # nothing listens there
    config = tmp_path / "jarvisctl.yml"
    config.write_text(
        f"""\
notify:
  receivers:
    ops:
      webhook: {{url: "{{{{ env('HOOK_URL') }}}}"}}
      slack: {{url: "{{{{ env('SLACK_URL') }}}}", channel: "#ops"}}
    down: {{webhook: {{url: "{{{{ env('DOWN_URL') }}}}"}}}}
    refuses: {{webhook: {{url: "{recorder.url}/refuse"}}}}
    mail: {{email: {{to: [oncall@example.com], smtp: "smtp://127.0.0.1:{smtp_port}",
                     starttls: false}}}}
  route: {{receiver: ops}}
"""
    )
    (tmp_path / "down-url").write_text(f"http://127.0.0.1:{down}/{HOOK_SECRET}-down\n")
    return config


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Recorder, object]:
    with http_recorder() as recorder, smtp_server("plain") as smtp:
        recorder.answers["/refuse"] = (400, b"no such channel")
        monkeypatch.setenv("HOOK_URL", f"{recorder.url}/hook/{HOOK_SECRET}")
        monkeypatch.setenv("SLACK_URL", f"{recorder.url}/services/{SLACK_SECRET}")
        config = project_file(tmp_path, recorder, smtp.port)
        monkeypatch.setenv("DOWN_URL", (tmp_path / "down-url").read_text().strip())
        yield config, recorder, smtp  # type: ignore[misc]


def jarvisctl(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "-c", str(config)])


def journal_text(config: Path) -> str:
    return "".join(p.read_text() for p in (config.parent / ".jarvisctl" / "runs").glob("*.jsonl"))


def test_each_part_of_a_receiver_is_sent_the_test_now(setup: tuple[Path, Recorder, object]) -> None:
    config, recorder, _ = setup
    done = jarvisctl(config, "notify", "test", "ops")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert sorted(line.split(":")[0] for line in lines) == ["ops/slack/0", "ops/webhook/0"]
    assert all(": delivered in " in line for line in lines)
    (hook,) = recorder.at(f"/hook/{HOOK_SECRET}")
    body = hook.json()
    assert body["receiver"] == "ops" and body["status"] == "firing"
    (alert,) = body["alerts"]
    assert alert["labels"]["alertname"] == "jarvisctl notify test"
    assert alert["labels"]["test"] == "true"
    assert hook.headers["Idempotency-Key"] == body["notificationKey"]
    (slack,) = recorder.at(f"/services/{SLACK_SECRET}")
    assert "jarvisctl notify test" in json.dumps(slack.json())
    assert slack.json()["channel"] == "#ops"
    for secret in (HOOK_SECRET, SLACK_SECRET):
        assert secret not in done.output and secret not in journal_text(config)
    run_id = done.stderr.split("recorded as run ")[1].split()[0]
    records = [
        json.loads(line)
        for line in (config.parent / ".jarvisctl" / "runs" / f"{run_id}.jsonl")
        .read_text()
        .splitlines()
    ]
    assert [r["kind"] for r in records] == [
        "run_started",
        "notify_test",
        "notify_test",
        "run_finished",
    ]
    assert sorted((r["data"]["integration"], r["data"]["delivered"]) for r in records[1:3]) == [
        ("ops/slack/0", True),
        ("ops/webhook/0", True),
    ]
    assert jarvisctl(config, "audit", "verify", run_id).exit_code == 0


def test_json_says_what_each_part_answered(setup: tuple[Path, Recorder, object]) -> None:
    config, _, _ = setup
    done = jarvisctl(config, "notify", "test", "ops", "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    jsonschema.validate(document, SCHEMA)
    assert (document["receiver"], document["ok"]) == ("ops", True)
    assert sorted(p["kind"] for p in document["parts"]) == ["slack", "webhook"]


def test_a_receiver_down_or_refusing_says_so_and_exits_1(
    setup: tuple[Path, Recorder, object],
) -> None:
    config, recorder, _ = setup
    down = jarvisctl(config, "notify", "test", "down")
    assert down.exit_code == 1, down.output
    assert down.stdout.startswith("down/webhook/0: FAILED (temporary): ")
    assert "127.0.0.1" in down.stdout and HOOK_SECRET not in down.output
    refuses = jarvisctl(config, "notify", "test", "refuses")
    assert refuses.exit_code == 1, refuses.output
    assert refuses.stdout.startswith("refuses/webhook/0: FAILED (permanent): ")
    assert "400" in refuses.stdout
    assert len(recorder.at("/refuse")) == 1  # tried once: a test is not retried
    document = json.loads(jarvisctl(config, "notify", "test", "down", "--json").stdout)
    (part,) = document["parts"]
    assert (document["ok"], part["delivered"], part["retryable"]) == (False, False, True)
    assert HOOK_SECRET not in journal_text(config)
    assert '"delivered":false' in journal_text(config)


def test_an_email_receiver_gets_the_test_mail(setup: tuple[Path, Recorder, object]) -> None:
    config, _, smtp = setup
    done = jarvisctl(config, "notify", "test", "mail")
    assert done.exit_code == 0, done.output
    (mail,) = smtp.mails  # type: ignore[attr-defined]
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert "jarvisctl notify test" in str(message["Subject"])
    assert mail.recipients == ("oncall@example.com",)


def test_an_unknown_receiver_is_a_usage_error_naming_the_declared_ones(
    setup: tuple[Path, Recorder, object], tmp_path: Path
) -> None:
    config, recorder, _ = setup
    done = jarvisctl(config, "notify", "test", "opz")
    assert done.exit_code == 2
    assert done.stderr.startswith("error: no receiver 'opz' in jarvisctl.yml's notify: (did you")
    assert "'ops'" in done.stderr and not recorder.posts
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "jarvisctl.yml").write_text("{}\n")
    none = jarvisctl(bare / "jarvisctl.yml", "notify", "test", "ops")
    assert none.exit_code == 2 and "jarvisctl.yml has no notify: section" in none.stderr


def test_a_secret_that_is_not_set_is_a_located_configuration_error(
    setup: tuple[Path, Recorder, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, recorder, _ = setup
    monkeypatch.delenv("SLACK_URL")
    done = jarvisctl(config, "notify", "test", "ops")
    assert done.exit_code == 3, done.output
    assert (
        "jarvisctl.yml:5:20: receiver 'ops': slack url: " in done.stderr
        and "'SLACK_URL' is not set" in done.stderr
    )
    assert not recorder.posts  # nothing is sent while a part cannot be
