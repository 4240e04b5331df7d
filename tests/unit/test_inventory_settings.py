"""Connection settings from host variables: Ansible's names, jarvisctl's names, and mistakes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.config.inventory import Inventory, load_inventory, local_inventory
from jarvisctl.core.errors import ConfigError, PatternError


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def inventory_of(project: Path, text: str, name: str = "hosts.yml") -> Inventory:
    path = project / "inventory" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_inventory(path)


def test_ansible_connection_variables(project: Path) -> None:
    inventory = inventory_of(
        project,
        """
        jetsons:
          hosts:
            jetson-01:
              ansible_host: 192.0.2.11
              ansible_port: 2222
              ansible_user: ubuntu
              ansible_ssh_private_key_file: ~/.ssh/fleet
              ansible_connection: smart
              ansible_become: yes
              ansible_become_user: operator
        """,
    )
    assert inventory.settings("jetson-01") == ConnectionSettings(
        host="jetson-01",
        address="192.0.2.11",
        port=2222,
        user="ubuntu",
        identity_file="~/.ssh/fleet",
        connection="ssh",
        become=True,
        become_user="operator",
    )


def test_an_unset_port_and_user_are_left_to_ssh_config(project: Path) -> None:
    inventory = inventory_of(project, "all:\n  hosts:\n    web-01: {}\n")
    settings = inventory.settings("web-01")
    assert (settings.port, settings.user, settings.where) == (None, None, "web-01")


def test_jarvisctl_names_win_over_ansible_names(project: Path) -> None:
    inventory = inventory_of(
        project,
        """
        all:
          vars:
            ansible_host: 192.0.2.1
            ansible_port: 22
            ansible_user: ansible
            ansible_connection: ssh
            ansible_become: false
          hosts:
            edge:
              address: 10.0.0.5
              port: "2200"
              user: jarvis
              identity_file: keys/edge
              connection: local
              become: "True"
              become_user: root
              host_key_policy: accept-new
              known_hosts: state/known_hosts
              connect_timeout: 2.5
        """,
    )
    assert inventory.settings("edge") == ConnectionSettings(
        host="edge",
        address="10.0.0.5",
        port=2200,
        user="jarvis",
        identity_file="keys/edge",
        connection="local",
        become=True,
        become_user="root",
        host_key_policy="accept-new",
        known_hosts="state/known_hosts",
        connect_timeout=2.5,
    )


def test_defaults_and_localhost(project: Path) -> None:
    inventory = inventory_of(project, "all:\n  hosts:\n    localhost:\n    web-01:\n")
    assert inventory.settings("web-01") == ConnectionSettings(host="web-01", address="web-01")
    assert inventory.settings("localhost").connection == "local"


def test_ini_typed_values_are_understood(project: Path) -> None:
    inventory = inventory_of(
        project,
        """
        web-01 ansible_port=2222 ansible_become=true
        web-02 ansible_port="2223" ansible_become=no
        """,
        name="hosts.ini",
    )
    assert (inventory.settings("web-01").port, inventory.settings("web-01").become) == (2222, True)
    assert (inventory.settings("web-02").port, inventory.settings("web-02").become) == (2223, False)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "ansible_port: abc",
            "inventory/hosts.yml:4:7: host 'web-01': ansible_port cannot be 'abc' "
            "(valid: an integer from 1 to 65535)",
        ),
        (
            "port: 70000",
            "inventory/hosts.yml:4:7: host 'web-01': port cannot be 70000 "
            "(valid: an integer from 1 to 65535)",
        ),
        (
            "ansible_connection: winrm",
            "inventory/hosts.yml:4:7: host 'web-01': ansible_connection cannot be 'winrm' "
            "(valid: ssh, smart, paramiko, paramiko_ssh, local)",
        ),
        (
            "become: maybe",
            "inventory/hosts.yml:4:7: host 'web-01': become cannot be 'maybe' "
            "(valid: true or false)",
        ),
        (
            "host_key_policy: ignore",
            "inventory/hosts.yml:4:7: host 'web-01': host_key_policy cannot be 'ignore' "
            "(valid: strict, accept-new)",
        ),
        (
            "connect_timeout: -1",
            "inventory/hosts.yml:4:7: host 'web-01': connect_timeout cannot be -1 "
            "(valid: a positive number of seconds)",
        ),
        (
            "ansible_user: [a, b]",
            "inventory/hosts.yml:4:7: host 'web-01': ansible_user cannot be ['a', 'b'] "
            "(valid: a user name)",
        ),
    ],
)
def test_wrong_values_are_reported_where_they_were_set(
    project: Path, line: str, expected: str
) -> None:
    inventory = inventory_of(project, f"web:\n  hosts:\n    web-01:\n      {line}\n")
    with pytest.raises(ConfigError) as caught:
        inventory.settings("web-01")
    assert str(caught.value) == expected


def test_a_wrong_group_value_points_at_the_group_var(project: Path) -> None:
    path = project / "inventory/hosts.ini"
    path.parent.mkdir()
    path.write_text("[web]\nweb-01\n[web:vars]\nansible_connection=docker\n")
    (project / "inventory/group_vars").mkdir()
    (project / "inventory/group_vars/web.yml").write_text("---\nansible_port: '22x'\n")
    inventory = load_inventory(path)
    with pytest.raises(ConfigError) as caught:
        inventory.settings("web-01")
    assert str(caught.value).startswith("inventory/hosts.ini:4:1: host 'web-01': ")
    del inventory  # a jarvisctl name fixes it without touching Ansible's
    path.write_text("[web]\nweb-01 connection=ssh\n[web:vars]\nansible_connection=docker\n")
    with pytest.raises(ConfigError, match=r"group_vars/web.yml:2:1: host 'web-01': ansible_port"):
        load_inventory(path).settings("web-01")


def test_unknown_host(project: Path) -> None:
    inventory = inventory_of(project, "web:\n  hosts:\n    web-01:\n")
    with pytest.raises(PatternError, match="no host named 'web-02'"):
        inventory.settings("web-02")


def test_local_inventory_is_the_local_machine() -> None:
    inventory = local_inventory()
    assert inventory.source == "<built-in>"
    assert list(inventory.hosts) == ["localhost"]
    assert [h.name for h in inventory.select("all")] == ["localhost"]
    assert inventory.settings("localhost") == ConnectionSettings(
        host="localhost", address="localhost", connection="local"
    )


def test_older_ansible_ssh_names_rank_below_the_current_ones(project: Path) -> None:
    inventory = inventory_of(
        project,
        """
        web:
          hosts:
            old: {ansible_ssh_host: 192.0.2.7, ansible_ssh_port: 2207, ansible_ssh_user: legacy}
            both: {ansible_ssh_host: 192.0.2.8, ansible_host: 192.0.2.9}
        """,
    )
    old = inventory.settings("old")
    assert (old.address, old.port, old.user) == ("192.0.2.7", 2207, "legacy")
    assert inventory.settings("both").address == "192.0.2.9"


def test_templated_connection_variables_are_refused_with_a_reason(project: Path) -> None:
    inventory = inventory_of(
        project, "web:\n  hosts:\n    web-01:\n      ansible_host: '{{ inventory_hostname }}.lan'\n"
    )
    with pytest.raises(ConfigError) as caught:
        inventory.settings("web-01")
    assert str(caught.value) == (
        "inventory/hosts.yml:4:7: host 'web-01': ansible_host is a template "
        "('{{ inventory_hostname }}.lan'); connection variables are not templated "
        "(write the value itself)"
    )


def test_ansible_ssh_arguments_become_ssh_options(project: Path) -> None:
    inventory = inventory_of(
        project,
        """
        all:
          vars:
            ansible_ssh_common_args: -o ProxyJump=bastion -o ControlPersist=60s
            ansible_ssh_args: -C -o ControlMaster=auto -o User=ops
            ansible_password: secret
          hosts:
            edge:
              ansible_ssh_extra_args: -p 2200
            localhost:
              ansible_ssh_extra_args: -F whatever
        """,
    )
    settings = inventory.settings("edge")
    assert settings.ssh_options == (("User", "ops"), ("ProxyJump", "bastion"), ("Port", "2200"))
    assert settings.password_variable == "ansible_password"
    local = inventory.settings("localhost")  # its ssh variables are not used: not read
    assert (local.ssh_options, local.password_variable) == ((), None)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["ansible_ssh_common_args: -o StrictHostKeyChecking=no"],
            "inventory/hosts.yml:4:7: host 'web-01': ansible_ssh_common_args: "
            "`-o StrictHostKeyChecking=no`: jarvisctl checks host keys strictly or with accept-new",
        ),
        (
            ["ansible_ssh_extra_args: '{{ extra }}'"],
            "inventory/hosts.yml:4:7: host 'web-01': ansible_ssh_extra_args is a template",
        ),
        (
            ["host_key_policy: accept-new", "ansible_ssh_args: -o StrictHostKeyChecking=yes"],
            "inventory/hosts.yml:4:7: host 'web-01': host_key_policy is 'accept-new' but its ssh "
            "arguments say StrictHostKeyChecking yes",
        ),
        (
            ["ansible_ssh_extra_args: -p 22x"],
            "inventory/hosts.yml:4:7: host 'web-01': ansible_ssh_extra_args: `-p 22x`: Port takes",
        ),
        (
            ["ansible_become: yes", "ansible_become_method: su"],
            "inventory/hosts.yml:5:7: host 'web-01': ansible_become_method is 'su'; jarvisctl "
            "becomes another user with sudo -n only",
        ),
    ],
)
def test_what_jarvisctl_cannot_honour_is_refused_where_it_was_set(
    project: Path, lines: list[str], expected: str
) -> None:
    text = "".join(f"      {line}\n" for line in lines)
    inventory = inventory_of(project, f"web:\n  hosts:\n    web-01:\n{text}")
    with pytest.raises(ConfigError) as caught:
        inventory.settings("web-01")
    assert str(caught.value).startswith(expected), str(caught.value)


def test_a_become_method_without_become_is_not_used(project: Path) -> None:
    inventory = inventory_of(
        project, "all:\n  hosts:\n    web-01:\n      ansible_become_method: su\n"
    )
    assert inventory.settings("web-01").become is False


def test_strict_host_key_checking_in_the_ssh_arguments_is_the_host_key_policy(
    project: Path,
) -> None:
    inventory = inventory_of(
        project,
        """
        all:
          hosts:
            new:
              ansible_ssh_common_args: -o StrictHostKeyChecking=accept-new
            same:
              host_key_policy: accept-new
              ansible_ssh_common_args: -o StrictHostKeyChecking=accept-new
            plain:
              ansible_ssh_common_args: -o StrictHostKeyChecking=yes
        """,
    )
    for host, policy in (("new", "accept-new"), ("same", "accept-new"), ("plain", "strict")):
        settings = inventory.settings(host)
        assert (settings.host_key_policy, settings.ssh_options) == (policy, ())
