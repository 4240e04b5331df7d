"""A run that does not notify imports nothing of notify/, of the store's alerts and outbox, nor
of what its receivers use (Apprise, requests, smtplib, urllib.request), even when jarvisctl.yml
has a `notify:` section: only its models and checks (config/) are imported, to report its
mistakes; a project without one imports none of that either (building the models costs about
20 ms)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.unit.test_start_up_imports import PLAYBOOK

WATCHED = ("apprise", "requests", "smtplib", "urllib.request", "aiosmtpd", "apscheduler")
PROBE = f"""
import atexit, json, sys
from jarvisctl.cli.main import main
atexit.register(lambda: print(json.dumps(sorted(
    m for m in sys.modules if m in {WATCHED!r} or m.startswith(("jarvisctl.notify",
    "jarvisctl.config.notify", "jarvisctl.config.models.notify", "jarvisctl.core.alert",
    "jarvisctl.store.alerts", "jarvisctl.store.sqlite.alerts")))),
    file=sys.stderr))
sys.argv = ["jarvisctl", *sys.argv[1:]]
main()
"""
NOTIFY = """\
notify:
  receivers:
    ops: {slack: {url: "{{ env('SLACK_WEBHOOK_URL') }}"}}
    sms: {apprise: ["ntfy://alerts"]}
  route:
    receiver: ops
    routes: [{match: {severity: critical}, receiver: sms}]
"""


def imported_by_run(tmp_path: Path, config: str | None) -> list[str]:
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    if config is not None:
        (tmp_path / "jarvisctl.yml").write_text(config)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "site.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return found


def test_a_run_without_notify_imports_none_of_it(tmp_path: Path) -> None:
    assert imported_by_run(tmp_path, None) == []


def test_a_run_of_a_project_with_notify_checks_it_and_sends_nothing(tmp_path: Path) -> None:
    assert imported_by_run(tmp_path, NOTIFY) == [
        "jarvisctl.config.models.notify",
        "jarvisctl.config.notify",
        "jarvisctl.core.alert_routes",
        "jarvisctl.core.alerts",
    ]
