"""Secrets: env(), secret_file(), secret_vars, and the redactor that scrubs them everywhere."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.core.events import Collector
from jarvisctl.core.secrets import MASK, Redactor
from tests.events import raw


@dataclass(frozen=True)
class Result:
    command: str
    tails: tuple[str, ...]


def test_the_redactor_scrubs_plain_quoted_and_nested_values() -> None:
    secret = "pa ss'word"
    redactor = Redactor(frozenset({secret}))
    command = f"mysql -p{shlex.quote(secret)} -e 'select 1'"
    assert secret not in shlex.quote(secret)  # quoting splits it: both spellings must go
    assert redactor.text(command) == f"mysql -p{MASK} -e 'select 1'"
    nested = redactor.value({"a": [f"x {secret} y", 3], "b": Result(secret, (secret,))})
    assert nested == {"a": [f"x {MASK} y", 3], "b": Result(MASK, (MASK,))}


def test_the_longest_secret_wins_and_short_values_are_left_alone() -> None:
    redactor = Redactor(frozenset({"abc", "abcdef", "on"}))
    assert redactor.text("abcdef abc on") == f"{MASK} {MASK} on"


def test_a_redacting_sink_scrubs_event_data() -> None:
    collector = Collector()
    sink = Redactor(frozenset({"hunter22"})).sink(collector)
    sink.emit(raw("command", "h", "p", {"command": "login hunter22", "exit_code": 0}))
    assert collector.events[0].data == {"command": f"login {MASK}", "exit_code": 0}


def test_env_and_secret_file_render_and_are_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JV_TOKEN", "from-env-1")
    (tmp_path / "key").write_text("from-file-2\n")
    templates = Templates(tmp_path)
    rendered = templates.render_shell("curl -H {{ env('JV_TOKEN') }} {{ secret_file('key') }}", {})
    assert rendered == "curl -H from-env-1 from-file-2"
    assert templates.secrets.frozen() == {"from-env-1", "from-file-2"}
    assert templates.render_value("{{ env('JV_NOT_SET', 'fallback') }}", {}) == "fallback"


def test_env_and_secret_file_failures_are_template_errors(tmp_path: Path) -> None:
    templates = Templates(tmp_path)
    with pytest.raises(TemplateError, match="environment variable 'JV_NOPE' is not set"):
        templates.render_shell("{{ env('JV_NOPE') }}", {})
    with pytest.raises(TemplateError, match=r"secret_file: cannot read .*missing.*No such file"):
        templates.render_value("{{ secret_file('missing') }}", {})


PLAYBOOK = """\
- name: p
  hosts: all
  vars:
    api_key: k3y-from-play
  secret_vars: [api_key, {extra}]
  checks:
    - name: api
      use: command
      with: {{command: "curl -H {{{{ api_key }}}} -u {{{{ db_password }}}} localhost"}}
"""
INVENTORY = """\
all:
  vars:
    db_password: pw-from-inventory
    secret_vars: {inventory_secret_vars}
  hosts:
    h1: {{ansible_connection: local}}
"""


def plan(tmp_path: Path, extra: str = "db_password", inventory_vars: str = "[]") -> CliRunner:
    (tmp_path / "p.yml").write_text(PLAYBOOK.format(extra=extra))
    (tmp_path / "inv.yml").write_text(INVENTORY.format(inventory_secret_vars=inventory_vars))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        return CliRunner().invoke(cli, ["plan", "p.yml", "-i", "inv.yml"])


def test_secret_vars_are_redacted_from_the_plan_output(tmp_path: Path) -> None:
    result = plan(tmp_path)
    assert result.exit_code == 0, result.output
    assert "curl -H *** -u *** localhost" in result.stdout
    assert "k3y-from-play" not in result.output and "pw-from-inventory" not in result.output


def test_inventory_secret_vars_are_redacted_too(tmp_path: Path) -> None:
    result = plan(tmp_path, extra="api_key", inventory_vars="[db_password]")
    assert result.exit_code == 0, result.output
    assert "pw-from-inventory" not in result.output


def test_a_misspelt_secret_var_is_a_located_error(tmp_path: Path) -> None:
    result = plan(tmp_path, extra="db_pasword")
    assert result.exit_code == 3
    assert (
        "p.yml:5:26: secret_vars: 'db_pasword' is not a variable of this host "
        "(did you mean 'db_password'?" in result.stderr
    )


def test_inventory_secret_vars_must_be_a_list_of_names(tmp_path: Path) -> None:
    result = plan(tmp_path, inventory_vars="{a: 1}")
    assert result.exit_code == 3
    assert "inv.yml:4:" in result.stderr
    assert "variable 'secret_vars' must be a list of variable names" in result.stderr
