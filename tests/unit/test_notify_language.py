"""`notify:` in jarvisctl.yml: issue 19's example loads into the policy it says, and every
mistake is refused at its file:line:column with what would be valid (never repeating a
secret)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli
from jarvisctl.config.models.notify import (
    AppriseParams,
    EmailParams,
    SlackParams,
    WebhookParams,
)
from jarvisctl.config.notify import notify_policy
from jarvisctl.config.project import load_project
from jarvisctl.core.alert_routes import DEFAULT_INHIBIT_RULES, Escalation, MaintenanceWindow
from jarvisctl.core.alerts import Matcher, parse_matcher
from jarvisctl.core.errors import ConfigError

ISSUE_EXAMPLE = """\
notify:
  receivers:
    ops: {slack: {url: "{{ env('SLACK_WEBHOOK_URL') }}"}}
    oncall: {email: {to: [oncall@example.com], smtp: "smtp://mail.example.com:587"}}
    hook: {webhook: {url: http://127.0.0.1:9000/hook}}
    am: {alertmanager: {url: http://127.0.0.1:9093}}
    sms: {apprise: ["twilio://..."]}
  route:
    receiver: ops
    group_by: [host, check]
    group_wait: 10s
    routes:
      - {match: {severity: critical}, receiver: oncall, escalate: {after: 15m, to: sms}}
"""


def write(root: Path, text: str) -> Path:
    path = root / "jarvisctl.yml"
    path.write_text(textwrap.dedent(text))
    return path


def errors(root: Path, text: str) -> list[str]:
    """Each problem of the config, as `jarvisctl.yml:LINE:COL: message (hint)`."""
    path = write(root, text)
    with pytest.raises(ConfigError) as raised:
        load_project(path)
    return [str(p).replace(str(path), "jarvisctl.yml") for p in raised.value.problems]


def test_the_issues_example_loads_into_its_policy(tmp_path: Path) -> None:
    config = load_project(write(tmp_path, ISSUE_EXAMPLE)).notify
    assert config is not None
    receivers = {name: spec.builtin() for name, spec in config.receivers.items()}
    assert isinstance(receivers["ops"]["slack"], SlackParams)
    email = receivers["oncall"]["email"]
    assert isinstance(email, EmailParams) and email.to == ["oncall@example.com"]
    assert email.starttls and not email.implicit_tls and email.timeout == 10.0
    assert isinstance(receivers["hook"]["webhook"], WebhookParams)
    apprise = receivers["sms"]["apprise"]
    assert isinstance(apprise, AppriseParams) and apprise.urls == ["twilio://..."]
    policy = notify_policy(config)
    root = policy.route
    assert (root.receiver, root.group_by, root.group_wait) == ("ops", ("host", "check"), 10.0)
    assert (root.group_interval, root.repeat_interval) == (300.0, 4 * 3600.0)  # Alertmanager's
    (critical,) = root.routes
    assert critical.receiver == "oncall"
    assert critical.matchers == (Matcher("severity", "=", "critical"),)
    assert critical.escalate == Escalation(900.0, "sms")
    # inherited from the root
    assert (critical.group_by, critical.group_wait, critical.path) == (("host", "check"), 10.0, "0")
    assert policy.inhibit == DEFAULT_INHIBIT_RULES and policy.maintenance == ()


def test_children_inherit_what_they_do_not_write(tmp_path: Path) -> None:
    config = load_project(
        write(
            tmp_path,
            """\
            notify:
              receivers: {a: {webhook: {url: "http://127.0.0.1:1/a"}}, b: {apprise: ["json://x"]}}
              route:
                receiver: a
                group_by: ["..."]
                repeat_interval: 1h
                escalate: {after: 5m, to: b}
                routes:
                  - matchers: ['team=~"vision|infra"', 'host!~"lab-.*"']
                    group_interval: 1m
                    continue: true
                    routes:
                      - {receiver: b, group_by: [host], match: {severity: critical}}
              inhibit: []
              maintenance:
                - name: patch night
                  cron: "0 2 * * SUN"
                  duration: 2h
                  matchers: ['host=~"db-.*"']
            """,
        )
    ).notify
    assert config is not None
    policy = notify_policy(config)
    (team,) = policy.route.routes
    (leaf,) = team.routes
    assert team.receiver == "a" and team.continue_ and team.path == "0"
    assert team.group_by == ("...",) and team.group_interval == 60.0
    assert team.repeat_interval == 3600.0 and team.escalate == Escalation(300.0, "b")
    assert leaf.receiver == "b" and leaf.group_by == ("host",) and leaf.path == "0.0"
    assert leaf.group_interval == 60.0 and leaf.repeat_interval == 3600.0
    assert leaf.escalate == Escalation(300.0, "b") and not leaf.continue_
    assert policy.inhibit == ()
    assert policy.maintenance == (
        MaintenanceWindow("patch night", "0 2 * * SUN", 7200.0, (parse_matcher('host=~"db-.*"'),)),
    )


# Each mistake, and the located line it must give. The lines are those of the text below.
MISTAKES = """\
notify:
  receivers:
    ops: {slack: {url: "not a url"}}
    oncall: {email: {to: [oncall], smtp: "http://mail.example.com:587"}}
    pw: {email: {to: [a@b.c], smtp: "smtp://m:25", username: u, password: hunter2secret}}
    clear: {email: {to: [a@b], smtp: "smtp://m", starttls: false, username: u, password: "{{ e }}"}}
    "bad name": {webhook: {url: "ftp://x"}}
    sms: {apprise: ["twilio"]}
    tmpl: {slack: {url: "https://x", channel: "{{ env('X') }}"}}
    none: {email: {to: [], smtp: "smtps://m"}}
  route:
    receiver: ops
    group_by: [host, "bad-label"]
    group_wait: 10 parsecs
    routes:
      - {receiver: ops, escalate: {after: 0s, to: sms}}
      - {matchers: ['host=~"(jetson"', 'x~y', 'a="b'], receiver: ops, colour: red}
  inhibit:
    - {source: [], target: ['a=b'], equal: ["not ok"]}
  maintenance:
    - {name: w, cron: "0 2 * * *", duration: -1, matchers: []}
"""
EXPECTED = [
    "jarvisctl.yml:3:24: 'url': is not an http:// or https:// URL with a host",
    "jarvisctl.yml:4:27: 'to': invalid e-mail address 'oncall' (expected NAME@DOMAIN)",
    "jarvisctl.yml:4:42: 'smtp': invalid SMTP server 'http://mail.example.com:587' (expected "
    "smtp://HOST[:PORT] (STARTTLS, port 25) or smtps://HOST[:PORT] (TLS, port 465))",
    "jarvisctl.yml:5:75: 'password': write where it comes from, not the secret itself: "
    "\"{{ env('SMTP_PASSWORD') }}\" or \"{{ secret_file('secrets/smtp') }}\"",
    "jarvisctl.yml:6:20: 'email': starttls: false would send the password in the clear: keep "
    "STARTTLS on, or use smtps://",
    "jarvisctl.yml:7:5: 'bad name': invalid receiver name 'bad name' (a letter or digit, then "
    "letters, digits, '_', '.', '-' (e.g. oncall))",
    "jarvisctl.yml:7:33: 'url': is not an http:// or https:// URL with a host",
    "jarvisctl.yml:8:21: 'apprise': is not an Apprise URL (expected SCHEME://..., e.g. ntfy://topic)",
    "jarvisctl.yml:9:47: 'channel': is not a template (only url, password, bearer_token and "
    "Apprise URLs are rendered): write the value itself",
    "jarvisctl.yml:10:24: 'to': is empty (expected at least one address, e.g. "
    "[oncall@example.com])",
    "jarvisctl.yml:13:22: 'group_by': invalid label name 'bad-label' (a label name: a letter or "
    "'_', then letters, digits or '_')",
    "jarvisctl.yml:14:17: 'group_wait': invalid duration '10 parsecs' (expected a number of "
    "seconds, or e.g. 500ms, 30s, 5m, 1h30m, 2d)",
    "jarvisctl.yml:16:43: 'after': must be longer than 0s (expected a number of seconds, or e.g. "
    "500ms, 30s, 5m, 1h30m, 2d, above zero)",
    "jarvisctl.yml:17:21: 'matchers': invalid regex '(jetson': missing ), unterminated subpattern",
    "jarvisctl.yml:17:40: 'matchers': invalid matcher 'x~y' (expected NAME=VALUE, NAME!=VALUE, "
    'NAME=~REGEX or NAME!~REGEX, the value optionally in double quotes, e.g. severity="critical" '
    'or host=~"jetson-0.*")',
    "jarvisctl.yml:17:47: 'matchers': invalid matcher 'a=\"b': the value's closing quote is "
    "missing",
    "jarvisctl.yml:17:71: unknown key 'colour' (valid: receiver, group_by, group_wait, "
    "group_interval, repeat_interval, match, matchers, continue, routes, escalate)",
    "jarvisctl.yml:19:16: 'source': is empty (expected at least one matcher, e.g. "
    'host=~"jetson-.*")',
    "jarvisctl.yml:19:45: 'equal': invalid label name 'not ok' (a label name: a letter or '_', "
    "then letters, digits or '_')",
    "jarvisctl.yml:21:46: 'duration': invalid duration -1 (expected a number of seconds, or e.g. "
    "500ms, 30s, 5m, 1h30m, 2d)",
    "jarvisctl.yml:21:60: 'matchers': is empty (expected at least one matcher, e.g. "
    'host=~"jetson-.*")',
]


def test_every_mistake_of_the_models_is_located(tmp_path: Path) -> None:
    found = errors(tmp_path, MISTAKES)
    assert found == EXPECTED
    assert not [line for line in found if "hunter2secret" in line]


CROSS = """\
notify:
  receivers:
    ops: {slack: {url: "https://hooks.example.com/x"}}
    hook: {webhok: {url: http://127.0.0.1:9000/hook}}
    empty: {}
  route:
    receiver: opz
    match: {a: b}
    matchers: ['a=b']
    continue: true
    routes:
      - {match: {severity: critical}, receiver: oncal, escalate: {after: 1m, to: smz}}
      - routes:
        - {receiver: hooky}
  maintenance:
    - {name: w, cron: "61 * * * *", duration: 2h, matchers: ['a=b']}
    - {name: w, cron: "0 0 30 2 *", duration: 1h, matchers: ['a=b']}
"""
HINT = "a receiver declared under notify: receivers:;"
CROSS_EXPECTED = [
    "jarvisctl.yml:4:12: receiver 'hook': unknown receiver kind 'webhok' (did you mean "
    "'webhook'? known: alertmanager, apprise, email, slack, webhook)",
    "jarvisctl.yml:5:12: receiver 'empty' sends nowhere (give it a kind, e.g. {slack: {url: ...}} "
    "or {email: {to: [...], smtp: ...}})",
    f"jarvisctl.yml:7:15: route: unknown receiver 'opz' ({HINT} did you mean 'ops'? known: "
    "empty, hook, ops)",
    "jarvisctl.yml:8:5: the root route takes every alert: it cannot have 'match' (put matchers "
    "on a route under routes:)",
    "jarvisctl.yml:9:5: the root route takes every alert: it cannot have 'matchers' (put "
    "matchers on a route under routes:)",
    "jarvisctl.yml:10:5: the root route takes every alert: it cannot have 'continue' (put "
    "matchers on a route under routes:)",
    f"jarvisctl.yml:12:49: route: unknown receiver 'oncal' ({HINT} known: empty, hook, ops)",
    f"jarvisctl.yml:12:82: escalate: unknown receiver 'smz' ({HINT} known: empty, hook, ops)",
    f"jarvisctl.yml:14:22: route: unknown receiver 'hooky' ({HINT} did you mean 'hook'? known: "
    "empty, hook, ops)",
    "jarvisctl.yml:16:23: cron: invalid cron expression '61 * * * *': Error validating "
    "expression '61': the last value (61) is higher than the maximum value (59) (5 fields: "
    "minute hour day-of-month month day-of-week, e.g. '*/5 * * * *')",
    "jarvisctl.yml:17:14: maintenance window 'w' twice",
    "jarvisctl.yml:17:23: cron: cron expression '0 0 30 2 *' never fires: no month it names has "
    "that day (February has 28 or 29 days; April, June, September and November 30)",
]


def test_every_mistake_across_the_tree_is_located(tmp_path: Path) -> None:
    assert errors(tmp_path, CROSS) == CROSS_EXPECTED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("notify: {}\n", "jarvisctl.yml:1:9: missing required key 'route' in 'notify'"),
        (
            "notify: {route: {}}\n",
            "jarvisctl.yml:1:17: the root route has no receiver (every alert no other route "
            "takes goes to it: receiver: NAME)",
        ),
        (
            "notify: {route: {receiver: a}, receivers: {a: {slack: {url: 'https://x'}}}, x: 1}\n",
            "jarvisctl.yml:1:77: unknown key 'x' (valid: receivers, route, inhibit, maintenance, "
            "on_run, maintenance_grace, delivery)",
        ),
        (
            "notify: {route: {receiver: a}, receivers: {a: {email: {to: [a@b.c], smtp: "
            "'smtp://m', username: u}}}}\n",
            "jarvisctl.yml:1:55: 'email': username and password go together (SMTP AUTH needs both)",
        ),
        (
            "notify: {route: {receiver: a}, receivers: {a: {slack: {url: 'https://x', "
            "timeout: 0}}}}\n",
            "jarvisctl.yml:1:83: 'timeout': must be longer than 0s (expected a number of "
            "seconds, or e.g. 500ms, 30s, 5m, 1h30m, 2d, above zero)",
        ),
        (
            "notify: {route: {receiver: a, group_by: 5}, receivers: {a: {apprise: []}}}\n",
            "jarvisctl.yml:1:41: 'group_by': input should be a valid list, got 5",
        ),
    ],
)
def test_small_mistakes(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in errors(tmp_path, text)


@pytest.mark.parametrize(
    "secret",
    ["hunter2secret", "https://hooks.slack.example/T000/B000/XXXXSECRETXXXX"],
)
def test_no_message_repeats_a_secret_fields_value(tmp_path: Path, secret: str) -> None:
    """A secret written where it does not fit (a list, a number, a bad URL) is refused
    without being quoted."""
    bad_values = [f"[{secret}]", f"{{a: {secret}}}", f"'{secret}x'.join"]
    for value in bad_values:
        text = (
            "notify:\n  route: {receiver: a}\n  receivers:\n"
            f"    a: {{slack: {{url: {value}}}, webhook: {{url: {value}}}, "
            f"apprise: [{value}], email: {{to: [a@b.c], smtp: 'smtp://m', username: u, "
            f"password: {value}}}}}\n"
        )
        found = errors(tmp_path, text)
        assert found
        assert not [line for line in found if secret in line], found


def test_plan_refuses_a_bad_notify_with_exit_3(tmp_path: Path) -> None:
    """The CLI reports `notify:` mistakes as every command that loads the project does."""
    write(tmp_path, "notify: {route: {receiver: nobody}}\n")
    (tmp_path / "p.yml").write_text(
        "- name: p\n  hosts: all\n  checks:\n"
        "    - {name: tmp, use: command, with: {command: 'true', parse: exit_code}}\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["plan", "p.yml"])
    assert result.exit_code == 3, result.output
    assert "error: jarvisctl.yml:1:28: route: unknown receiver 'nobody'" in result.stderr
