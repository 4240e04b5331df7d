"""Variables that refer to other variables, rendered per host as ansible-core renders them.

tests/data/inventory/nested/ sets `app_dir: "{{ base_dir }}/app"` and the like at every level
(group_vars/all, [site:vars], group_vars/web.yml, host vars, host_vars/), with a reference
cycle and an undefined reference; each value a host sees is compared with what ansible-core's
own templar renders from the same inventory.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jarvisctl.cli.common import EXIT_CONFIG
from jarvisctl.cli.inventory import inventory
from jarvisctl.cli.plan import plan_command
from jarvisctl.config.configfile import display_path
from jarvisctl.config.inventory import load_inventory
from jarvisctl.config.inventory.rendering import HostVariables, VariableError
from jarvisctl.config.templating.templates import Templates
from tests.ansible_core import Ansible

pytest.importorskip("ansible")

NESTED = Path(__file__).resolve().parent.parent / "data" / "inventory" / "nested" / "hosts.ini"
SHOWN = display_path(NESTED)  # as messages name it


def ansible_value(ansible: Ansible, host: str, name: str) -> tuple[bool, Any]:
    """(True, the value) as a task on `host` sees it, or (False, None) if ansible-core fails."""
    from ansible.errors import AnsibleError

    try:
        return True, ansible.rendered(host, name)
    except AnsibleError:
        return False, None


def test_every_variable_renders_as_ansible_renders_it() -> None:
    ansible = Ansible(NESTED)
    inventory = load_inventory(NESTED)
    compared = failed = 0
    for name, host in inventory.hosts.items():
        variables = HostVariables(name, host.vars, Templates(), host.var_locations)
        variables["inventory_hostname"] = name
        for variable in host.vars:
            ok, expected = ansible_value(ansible, name, variable)
            if ok:
                assert variables[variable] == expected, (name, variable)
                compared += 1
            else:
                with pytest.raises(VariableError):
                    variables[variable]
                failed += 1
    assert compared >= 30 and failed >= 6  # the fixture exercises both, on several hosts


def test_the_precedence_cases_the_fixture_exercises() -> None:
    inventory = load_inventory(NESTED)

    def value(host: str, name: str) -> Any:
        found = inventory.hosts[host]
        variables = HostVariables(host, found.vars, Templates(), found.var_locations)
        variables["inventory_hostname"] = host
        return variables[name]

    assert value("web1", "log_dir") == "/srv/web-app/logs"  # group_vars/web.yml's app_dir
    assert value("web2", "log_dir") == "/opt/web-app/logs"  # its own base_dir, read by web's
    assert value("web3", "log_dir") == "/srv/custom/logs"  # its own app_dir
    assert value("db1", "paths") == ["/srv/app/a", {"nested": "none", "count": 3}]
    assert value("web1", "listen") == "0.0.0.0:9090"  # host_vars/web1.yml's port
    assert value("web2", "listen") == "0.0.0.0:8080"


PLAYBOOK = """\
- name: layout
  hosts: {hosts}
  checks:
    - name: logs
      use: disk_usage
      with: {{path: "{{{{ {variable} }}}}"}}
"""


def plan(tmp_path: Path, hosts: str, variable: str, *extra: str) -> tuple[int, str, str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK.format(hosts=hosts, variable=variable))
    result = CliRunner().invoke(plan_command, [str(playbook), "-i", str(NESTED), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_plan_renders_nested_variables_per_host(tmp_path: Path) -> None:
    code, out, err = plan(tmp_path, "web:db", "app_dir")
    assert code == 0, err  # undefined_ref, a and b are broken, but nothing reads them
    ansible = Ansible(NESTED)
    commands = [line.strip() for line in out.splitlines() if line.strip().startswith("$")]
    hosts = ["web1", "web2", "web3", "db1"]
    assert commands == [f"$ df -P {ansible.rendered(host, 'app_dir')}" for host in hosts]


def test_a_reference_cycle_is_a_located_error(tmp_path: Path) -> None:
    code, _, err = plan(tmp_path, "loop", "log_dir")
    assert code == EXIT_CONFIG
    assert (
        f"{tmp_path / 'play.yml'}:6:20: variable 'a' ({SHOWN}:26:1): refers to itself "
        "(a -> b -> a) (host loop1)"
    ) in err
    code, _, err = plan(tmp_path, "loop", "self_ref")
    assert code == EXIT_CONFIG
    assert f"variable 'self_ref' ({SHOWN}:28:1): refers to itself (self_ref -> self_ref)" in err


def test_an_undefined_reference_is_a_located_error(tmp_path: Path) -> None:
    code, _, err = plan(tmp_path, "db", "undefined_ref")
    assert code == EXIT_CONFIG
    where = display_path(NESTED.parent / "group_vars" / "all.yml")
    assert (
        f"variable 'undefined_ref' ({where}:9:1): undefined variable 'not_defined_anywhere' "
        "(host db1)"
    ) in err


INVENTORY = """\
all:
  vars:
    secret_vars: [{secret}]
    api_token: "{{{{ env('JARVISCTL_TEST_TOKEN') }}}}"
    auth: "Bearer {{{{ api_token }}}}"
    dsn: "postgres://app:S3cr3t-pw@{{{{ db_hots }}}}/app"
  hosts:
    web1:
"""

SECRET_PLAYBOOK = """\
- name: api
  hosts: all
  checks:
    - name: api
      use: command
      with: {{command: "curl -H {{{{ {variable} }}}} http://127.0.0.1/"}}
"""


@pytest.mark.parametrize(("variable", "secret"), [("auth", "api_token"), ("dsn", "dsn")])
def test_secrets_read_through_other_variables_stay_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, secret: str
) -> None:
    monkeypatch.setenv("JARVISCTL_TEST_TOKEN", "tok-4f9a2b7c1d")
    (tmp_path / "hosts.yml").write_text(INVENTORY.format(secret=secret))
    (tmp_path / "play.yml").write_text(textwrap.dedent(SECRET_PLAYBOOK.format(variable=variable)))
    args = [str(tmp_path / "play.yml"), "-i", str(tmp_path / "hosts.yml")]
    result = CliRunner().invoke(plan_command, args)
    output = result.stdout + result.stderr
    assert "tok-4f9a2b7c1d" not in output and "S3cr3t-pw" not in output
    if variable == "auth":  # rendered through api_token, whose env() value is a secret
        assert result.exit_code == 0, output
        assert "curl -H 'Bearer ***'" in output
    else:  # its template is not quoted in the error: the secret written inline in it stays out
        assert result.exit_code == EXIT_CONFIG
        assert "variable 'dsn' (" in output and "undefined variable 'db_hots'" in output


CONNECTIONS = """\
all:
  vars:
    domain: lan.example
    ansible_host: "{{ inventory_hostname }}.{{ domain }}"
    base_port: 2200
  children:
    edge:
      vars:
        ansible_port: "{{ base_port + 2 }}"
        ansible_user: "{{ group_names | first }}-ops"
      hosts:
        jetson-01:
        jetson-02:
          domain: lab.example
    broken:
      hosts:
        odd-01:
          ansible_host: "{{ missing_domain }}"
"""


def test_connection_variables_render_as_ansible_renders_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("hosts.yml").write_text(CONNECTIONS)
    ansible = Ansible(tmp_path / "hosts.yml")
    result = CliRunner().invoke(inventory, ["list", "-i", "hosts.yml", "edge", "--json"])
    assert result.exit_code == 0, result.stderr
    for row in json.loads(result.stdout)["hosts"]:
        name = row["name"]
        expected = (
            ansible.rendered(name, "ansible_host"),
            int(ansible.rendered(name, "ansible_port")),
            ansible.rendered(name, "ansible_user"),
        )
        assert (row["address"], row["port"], row["user"]) == expected
    assert row["address"] == "jetson-02.lab.example"  # its own domain
    result = CliRunner().invoke(inventory, ["list", "-i", "hosts.yml", "odd-01"])
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr.startswith(
        "error: hosts.yml:18:11: host 'odd-01': variable 'ansible_host' (hosts.yml:18:11): "
        "undefined variable 'missing_domain'"
    )
    Path("play.yml").write_text("- {name: p, hosts: edge, checks: [{name: l, use: cpu_usage}]}\n")
    result = CliRunner().invoke(plan_command, ["play.yml", "-i", "hosts.yml"])
    assert result.exit_code == 0, result.stderr
    assert "HOST jetson-01  (ssh edge-ops@jetson-01.lan.example:2202)" in result.stdout
