"""A restic store's password whose source cannot give it (an unset env(), a missing
secret_file()): `plan` and `run` say so at the password's place in jarvisctl.yml, with what to
do, and never as a Python exception's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_backups_language import invoke, project

PLAYBOOK = (
    "- {name: p, hosts: h1, backups: [{name: a, paths: [/etc/hostname], keep: {last: 1}, "
    "store: offsite}]}\n"
)


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize(
    ("source", "said"),
    [
        (
            "{{ env('JV_UNSET_PW') }}",
            "environment variable 'JV_UNSET_PW' is not set (export JV_UNSET_PW in the "
            "environment jarvisctl runs in)",
        ),
        ("{{ secret_file('secrets/restic') }}", "secret_file: cannot read 'secrets/restic': "),
    ],
)
def test_an_unreadable_password_source_is_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, source: str, said: str
) -> None:
    monkeypatch.delenv("JV_UNSET_PW", raising=False)
    config = f'backup_stores:\n  offsite: {{type: restic, repository: r, password: "{source}"}}\n'
    project(tmp_path, PLAYBOOK, config)
    result = invoke(tmp_path, command, "p.yml", "-i", "inventory.yml")
    assert result.exit_code == 3, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    column = config.splitlines()[1].index('"') + 1
    assert errors and errors[-1].startswith(
        f"error: jarvisctl.yml:2:{column}: backup store 'offsite': password: template "
    )
    assert said in errors[-1]
    assert "Error:" not in result.output and "Traceback" not in result.output
