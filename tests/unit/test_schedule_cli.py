"""`jarvisctl schedule list` and the job discovery behind it: from the YAML, no daemon."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.app.schedules import discover_jobs
from jarvisctl.cli.main import cli
from jarvisctl.config.project import load_project
from jarvisctl.core.errors import ConfigError
from jarvisctl.core.secrets import SecretValues

NOW = datetime(2026, 11, 24, 3, 41, tzinfo=timezone.utc)

PLAYS = """\
- name: disks
  hosts: all
  schedule: "*/5 * * * *"
  checks:
    - use: disk_usage
      with: {path: /}
- name: quick
  hosts: all
  schedule: {every: 30s, jitter: 5s}
  checks:
    - use: uptime
- name: by hand
  hosts: all
  checks:
    - use: uptime
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "site.yml").write_text(PLAYS)
    (tmp_path / "jarvisctl.yml").write_text("playbooks: [playbooks]\n")
    return tmp_path


def invoke(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["schedule", "list", "-c", str(project / "jarvisctl.yml"), *args]
    )
    return result.exit_code, result.output


def test_every_scheduled_play_is_a_job_with_its_location(project: Path) -> None:
    jobs = discover_jobs(load_project(project / "jarvisctl.yml"), NOW, secrets=SecretValues())
    assert [(j.id, j.schedule) for j in jobs] == [
        ("playbooks/site.yml::disks", "cron '*/5 * * * *'"),
        ("playbooks/site.yml::quick", "every 30s (jitter 5s)"),
    ]
    assert str(jobs[0].location).endswith("site.yml:1:9")
    assert jobs[0].playbook == (project / "playbooks" / "site.yml").resolve()


def test_list_shows_jobs_and_next_fire_times(project: Path) -> None:
    code, output = invoke(project, "--json", "-n", "2")
    assert code == 0, output
    jobs = json.loads(output)
    assert [j["play"] for j in jobs] == ["disks", "quick"]
    times = [datetime.fromisoformat(t) for t in jobs[0]["next_fire_times"]]
    assert len(times) == 2 and all(t.minute % 5 == 0 and t.second == 0 for t in times)
    assert (times[1] - times[0]).total_seconds() == 300


def test_list_as_text(project: Path) -> None:
    code, output = invoke(project)
    assert code == 0, output
    assert "playbooks/site.yml::quick\n  every 30s (jitter 5s)" in output
    assert output.count("next: ") == 6


def test_a_missing_playbook_path_is_a_located_error(project: Path) -> None:
    (project / "jarvisctl.yml").write_text("playbooks:\n  - playbooks\n  - elsewhere\n")
    code, output = invoke(project)
    assert code == 3
    assert "jarvisctl.yml:3:5: playbooks: 'elsewhere' does not exist" in output


def test_a_broken_playbook_is_a_located_error(project: Path) -> None:
    broken = PLAYS.replace('"*/5 * * * *"', '"*/5 * * *"')
    (project / "playbooks" / "site.yml").write_text(broken)
    code, output = invoke(project)
    assert code == 3
    assert "site.yml:3:13" in output and "has 4 fields" in output


def test_two_scheduled_plays_with_one_name_are_refused(project: Path) -> None:
    (project / "playbooks" / "site.yml").write_text(PLAYS.replace("name: quick", "name: disks"))
    with pytest.raises(ConfigError, match="two scheduled plays are named 'disks'"):
        discover_jobs(load_project(project / "jarvisctl.yml"), NOW, secrets=SecretValues())


def test_no_scheduled_play(tmp_path: Path) -> None:
    (tmp_path / "jarvisctl.yml").write_text("forks: 5\n")
    code, output = invoke(tmp_path)
    assert code == 0 and "no play has a schedule" in output


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("0.0.0.0:9469", "is not loopback"),
        ("10.1.2.3:80", "is not loopback"),
        ("127.0.0.1", "is not ADDRESS:PORT"),
        ("127.0.0.1:99999", "is not ADDRESS:PORT"),
    ],
)
def test_the_daemon_listens_on_loopback_only(tmp_path: Path, listen: str, message: str) -> None:
    (tmp_path / "jarvisctl.yml").write_text(f"daemon:\n  listen: {listen}\n")
    code, output = invoke(tmp_path)
    assert code == 3 and "jarvisctl.yml:2:" in output and message in output
