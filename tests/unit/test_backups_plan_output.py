"""`jarvisctl plan` shows, per host, what each backup would take and where it would go; no
secret (a restic password, an env() value in a command) in any of its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/plan.schema.json").read_text())
PASSWORD = "restic-pw-8c1f7e"
DB_TOKEN = "db-token-52aa90"

PLAYBOOK = """\
- name: keep things
  hosts: all
  backups:
    - name: config
      paths: ["{{ etc }}/jarvis", "/srv/my app"]
      exclude: ["*.tmp"]
      keep: {last: 7, daily: 7}
      max_age: 26h
      verify: restore
    - name: app-db
      command: "pg_dump --dbname={{ db }} --password={{ env('DB_TOKEN') }}"
      file: app.dump
      keep: {daily: 14, monthly: 3}
      store: offsite
      compress: zstd
      bandwidth: 500KiB/s
      become: true
  checks:
    - {name: db fresh, use: backup_age, with: {backup: app-db}, warn: 20h, crit: 26h}
"""
CONFIG = """\
backup_stores:
  offsite: {type: restic, repository: /srv/restic, password: "{{ env('RESTIC_PW') }}"}
"""
INVENTORY = 'all:\n  hosts:\n    h1: {connection: local, etc: /etc, db: "app; rm -rf /"}\n'


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "jarvisctl.yml").write_text(CONFIG)
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "p.yml").write_text(PLAYBOOK)
    monkeypatch.setenv("RESTIC_PW", PASSWORD)
    monkeypatch.setenv("DB_TOKEN", DB_TOKEN)
    return tmp_path


def plan(root: Path, *args: str) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        return CliRunner().invoke(
            cli, ["plan", "p.yml", "-i", "inventory.yml", *args], catch_exceptions=False
        )


def test_text_shows_each_backup_of_each_host(project: Path) -> None:
    result = plan(project)
    assert result.exit_code == 0, result.output
    shown = [
        "      BACKUP config  [paths]",
        "        paths: /etc/jarvis '/srv/my app'",
        "        exclude: '*.tmp'",
        f"        to: local directory {project}/.jarvisctl/backups (store 'local')",
        "        keep: last 7, daily 7; verify: restore; max_age 1d2h",
        "        transfer: compress gzip, timeout 1h, nice/ionice",
        "      BACKUP app-db  [command]",
        "        $ pg_dump --dbname='app; rm -rf /' --password=***",
        "        stored as: app.dump",
        "        to: restic repository /srv/restic (store 'offsite')",
        "        keep: daily 14, monthly 3; verify: checksum",
        "        transfer: compress zstd, timeout 1h, bandwidth 500KiB/s, nice/ionice, become",
    ]
    assert "\n".join(shown) + "\n" in result.output
    assert "      CHECK backup config  [backup_age]\n" in result.output
    assert "        thresholds: crit >= 1d2h, timeout 1h\n" in result.output
    assert "        thresholds: warn >= 20h, crit >= 26h, timeout 30s\n" in result.output
    assert "        measured on the controller\n" in result.output
    assert "1 host(s), 2 check(s), 2 backup(s) planned" in result.output
    assert PASSWORD not in result.output and DB_TOKEN not in result.output


def test_json_shows_backups_by_the_schema_and_never_a_password(project: Path) -> None:
    junit = project / "plan.xml"
    result = plan(project, "--json", "--junit", str(junit))
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    jsonschema.validate(document, SCHEMA)
    (host,) = document["playbooks"][0]["plays"][0]["hosts"]
    config, database = host["backups"]
    assert config["paths"] == ["/etc/jarvis", "/srv/my app"]
    assert config["store"] == {
        "name": "local",
        "type": "local",
        "location": str(project / ".jarvisctl" / "backups"),
    }
    assert config["keep"] == {"last": 7, "daily": 7, "weekly": None, "monthly": None}
    assert (config["max_age_seconds"], config["verify"]) == (93600, "restore")
    assert database["command"] == "pg_dump --dbname='app; rm -rf /' --password=***"
    assert database["store"] == {"name": "offsite", "type": "restic", "location": "/srv/restic"}
    assert (database["compress"], database["bandwidth_bytes_per_second"]) == ("zstd", 512000)
    assert (database["file"], database["become"]) == ("app.dump", True)
    assert database["source"] == "command"
    derived = next(c for c in host["checks"] if c["name"] == "backup config")
    assert (derived["kind"], derived["command"], derived["unit"]) == ("backup_age", "", "s")
    assert derived["thresholds"]["crit"] == "1d2h"
    for text in (result.output, junit.read_text()):
        assert PASSWORD not in text and DB_TOKEN not in text


def test_a_broken_restic_password_template_shows_no_secret(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the password is read, then refused for the text around it: the error must not show it
    (project / "jarvisctl.yml").write_text(CONFIG.replace('"{{ env', '"pw-{{ env'))
    result = plan(project)
    assert result.exit_code == 3
    assert "the password must come from env() or secret_file() alone" in result.stderr
    assert PASSWORD not in result.output + result.stderr


def test_the_shipped_backups_playbook_plans_on_the_local_default() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        result = CliRunner().invoke(
            cli, ["plan", "playbooks/backups.yml", "--json"], catch_exceptions=False
        )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    jsonschema.validate(document, SCHEMA)
    (host,) = document["playbooks"][0]["plays"][0]["hosts"]
    identity, packages = host["backups"]
    assert identity["paths"] == ["/etc/hostname", "/etc/hosts"]
    assert all(Path(p).exists() for p in identity["paths"])  # a Debian machine has them
    assert packages["command"] == "dpkg --get-selections"
    assert {c["name"] for c in host["checks"]} == {
        "package list backed up",
        "backup host-identity",
    }
