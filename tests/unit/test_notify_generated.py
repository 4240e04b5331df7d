"""Hostile and careless `notify:` sections never crash, hang or go unlocated (issue 19 with
issue 14's generator, tests/hostile_inputs.py).

A rich valid `notify:` (every receiver kind, nested routes, matchers of every operator,
escalation, inhibition, a maintenance window) is mutated structurally (keys deleted, renamed,
retyped, nested, shared, recursive, bombs) and textually (control characters, torn, duplicated
and re-indented lines, bytes that are not UTF-8); `jarvisctl plan` must accept the result (exit
0) or refuse it with exit 3 and every error line located in a file that exists.

    JARVIS_FUZZ_EXAMPLES=3000 .venv/bin/pytest -q tests/unit/test_notify_generated.py
"""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import copy_project, plan_in_process
from tests.hostile_inputs import TEXT_EDITS, data_mutation, dump

EXAMPLES = int(os.environ.get("JARVIS_FUZZ_EXAMPLES", "150"))
DEADLINE = 10.0
ARGS = ("playbooks/health.yml",)

SEED = """\
inventory: inventory/local.yml
playbooks: [playbooks/health.yml]
notify:
  receivers:
    ops: {slack: {url: "{{ env('SLACK_WEBHOOK_URL') }}", channel: "#ops", timeout: 5s}}
    oncall:
      email:
        to: [oncall@example.com, backup@example.com]
        from: jarvisctl@example.com
        smtp: "smtp://mail.example.com:587"
        username: jarvis
        password: "{{ secret_file('secrets/smtp') }}"
    hook: {webhook: {url: http://127.0.0.1:9000/hook, max_alerts: 10}}
    am: {alertmanager: {url: http://127.0.0.1:9093, bearer_token: "{{ env('AM_TOKEN') }}"}}
    sms: {apprise: ["twilio://sid:token@+15550001/+15550002", "ntfy://alerts"]}
  route:
    receiver: ops
    group_by: [host, check]
    group_wait: 10s
    group_interval: 5m
    repeat_interval: 4h
    routes:
      - {match: {severity: critical}, receiver: oncall, escalate: {after: 15m, to: sms}}
      - matchers: ['host=~"jetson-0.*"', 'check!="uptime"', 'team!~"lab|test"']
        receiver: hook
        continue: true
        routes:
          - {matchers: ['severity="warning"'], receiver: am, group_by: ["..."]}
  inhibit:
    - {source: ['alertname="host unreachable"'], target: ['check=~".+"'], equal: [host]}
  maintenance:
    - {name: patch night, cron: "0 2 * * SUN", duration: 2h, matchers: ['host=~"db-.*"']}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("notify-generated") / "project")
    (root / "jarvisctl.yml").write_text(SEED)
    outcome = plan_in_process(ARGS, root, DEADLINE)
    assert outcome.exit_code == 0, outcome.stderr  # the seed itself is valid
    return root


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    text = SEED
    if draw(st.integers(0, 3)) > 0:
        data = yaml.safe_load(text)
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            data = draw(data_mutation(data))
        with contextlib.suppress(yaml.YAMLError, ValueError, RecursionError):
            text = dump(data)
    rng = random.Random(draw(st.integers(min_value=0, max_value=2**32)))
    for edit in draw(st.lists(st.sampled_from(TEXT_EDITS), max_size=2)):
        text = edit(text, rng)
    content = text.encode("utf-8", errors="surrogatepass")
    if draw(st.integers(min_value=0, max_value=14)) == 0:
        at = draw(st.integers(min_value=0, max_value=len(content)))
        content = content[:at] + b"\xff" + content[at:]
    return content


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(content=mutated_seed())
def test_hostile_notify_is_accepted_or_located(project: Path, content: bytes) -> None:
    config = project / "jarvisctl.yml"
    config.write_bytes(content)
    try:
        outcome = plan_in_process(ARGS, project, DEADLINE)
        verdict = outcome.verdict(project)  # (its lines are checked against this input)
    finally:
        config.write_text(SEED)
    assert verdict in ("valid", "located"), (
        f"{verdict}\ncontent: {content[:3000]!r}\nstderr: {outcome.stderr[-3000:]}"
    )
