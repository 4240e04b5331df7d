"""Loading Ansible's YAML inventory format, and the located errors for its mistakes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jarvisctl.config.inventory import load_inventory
from jarvisctl.core.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory that is also the working directory, so messages use relative paths."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory").mkdir()
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    return [str(problem) for problem in caught.value.problems]


def test_groups_hosts_children_and_vars(project: Path) -> None:
    path = write(
        project / "inventory/prod.yml",
        """
        all:
          vars:
            site: lab
          children:
            jetsons:
              hosts:
                jetson-01:
                  ansible_host: 192.0.2.11
                jetson-02:
              vars:
                data_mount: /data
            servers:
              hosts:
                db-01:
        """,
    )
    inventory = load_inventory(path)
    assert inventory.source == "inventory/prod.yml"
    assert list(inventory.hosts) == ["jetson-01", "jetson-02", "db-01"]
    assert inventory.groups["jetsons"].hosts == ("jetson-01", "jetson-02")
    assert inventory.groups["all"].children == ("ungrouped", "jetsons", "servers")
    assert inventory.hosts["jetson-01"].groups == ("all", "jetsons")
    assert dict(inventory.hosts["jetson-01"].vars) == {
        "site": "lab",
        "data_mount": "/data",
        "ansible_host": "192.0.2.11",
    }
    assert inventory.hosts["jetson-01"].origins["data_mount"] == (
        "inventory/prod.yml:11:9 (group jetsons)"
    )
    assert inventory.hosts["jetson-01"].origins["ansible_host"] == "inventory/prod.yml:8:11"
    assert str(inventory.hosts["db-01"].location) == "inventory/prod.yml:14:9"


def test_top_level_groups_join_all_and_hosts_without_group_are_ungrouped(project: Path) -> None:
    path = write(
        project / "inventory/hosts.yml",
        """
        all:
          hosts:
            mail.example.com:
            foo.example.com:
        webservers:
          hosts:
            foo.example.com:
        """,
    )
    inventory = load_inventory(path)
    assert inventory.groups["ungrouped"].hosts == ("mail.example.com",)
    assert inventory.groups["all"].children == ("ungrouped", "webservers")
    assert inventory.hosts["mail.example.com"].groups == ("all", "ungrouped")
    assert inventory.hosts["foo.example.com"].groups == ("all", "webservers")


def test_host_ranges_and_ports_expand(project: Path) -> None:
    path = write(
        project / "inventory/ranges.yml",
        """
        web:
          hosts:
            web[01:03].example.com:
            db-[a:c]:
            node[0:4:2]:
            badwolf.example.com:5309:
              role: alias
        """,
    )
    inventory = load_inventory(path)
    assert list(inventory.hosts) == [
        "web01.example.com",
        "web02.example.com",
        "web03.example.com",
        "db-a",
        "db-b",
        "db-c",
        "node0",
        "node2",
        "node4",
        "badwolf.example.com",
    ]
    assert inventory.hosts["badwolf.example.com"].vars["ansible_port"] == 5309


def test_a_string_section_is_refused(project: Path) -> None:
    # ansible-core reads `hosts: web-01` as one entry, and so `hosts: web-01, web-02` as one
    # host named "web-01, web-02": each entry must be a key
    path = write(project / "inventory/short.yml", "web:\n  hosts: web-01, web-02\n")
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    assert str(caught.value) == (
        "inventory/short.yml:2:10: 'hosts' of group 'web' must be a mapping, got str "
        "'web-01, web-02' (write each entry as a key ending in ':', below 'hosts:', e.g. 'web1:')"
    )


def test_a_host_in_two_groups_keeps_the_last_value_of_each_variable(project: Path) -> None:
    path = write(
        project / "inventory/twice.yml",
        """
        a:
          hosts:
            h1: {colour: red, size: 1}
        b:
          hosts:
            h1: {colour: blue}
        """,
    )
    host = load_inventory(path).hosts["h1"]
    assert dict(host.vars) == {"colour": "blue", "size": 1}
    assert host.origins["colour"] == "inventory/twice.yml:6:10"


def test_every_mistake_of_a_file_is_reported_at_its_location(project: Path) -> None:
    path = write(
        project / "inventory/prod.yml",
        """
        all:
          children:
            web:
              hostz:
                web-01:
            db:
              hosts:
                - db-01
            cache: just-a-string
            jetsons:
              hosts:
                jetson-01: not-a-mapping
                jetson[01:x]:
              vars:
                ansible_group_priority: high
        """,
    )
    assert problems(path) == [
        "inventory/prod.yml:4:7: 'hostz' is not a valid key for group 'web' "
        "(valid: hosts, children, vars)",
        "inventory/prod.yml:8:9: 'hosts' of group 'db' must be a mapping, got list ['db-01'] "
        "(write each entry as a key ending in ':', below 'hosts:', e.g. 'web1:')",
        "inventory/prod.yml:9:12: group 'cache' must be a mapping, got str "
        "(valid keys: hosts, children, vars)",
        "inventory/prod.yml:12:20: the variables of host 'jetson-01' must be a mapping, got str "
        "(e.g. 'ansible_host: 192.0.2.10' indented below the host)",
        "inventory/prod.yml:13:9: 'jetson[01:x]': range bounds must be numbers or single letters",
        "inventory/prod.yml:15:9: ansible_group_priority must be an integer, got 'high'",
    ]


def test_group_loops_are_refused(project: Path) -> None:
    path = write(
        project / "inventory/loop.yml",
        """
        a:
          children:
            b:
              children:
                a:
        """,
    )
    assert problems(path) == [
        "inventory/loop.yml:3:5: making 'b' a child of 'a' creates a loop "
        "(a group cannot contain itself, directly or through its children)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "inventory/bad.yml:1:1: the inventory is empty (expected groups, e.g. 'all:')"),
        (
            "- web-01\n",
            "inventory/bad.yml:1:1: an inventory must be a mapping of group names, got list "
            "(e.g. 'all:' with 'hosts:' below it)",
        ),
        (
            "plugin: aws_ec2\n",
            "inventory/bad.yml:1:1: inventory plugin configurations are not supported "
            "(write hosts and groups in Ansible's YAML or INI inventory format)",
        ),
        (
            "web:\n  hosts:\n    1234:\n",
            "inventory/bad.yml:3:5: host name 1234 must be a string (quote it)",
        ),
        (
            "web:\n  hosts:\n    h1:\n  hosts:\n    h2:\n",
            "inventory/bad.yml:4:3: YAML syntax error: duplicate key 'hosts' "
            "(each key may appear once in a mapping)",
        ),
        (
            "web:\n  hosts:\n    web-01:8a:\n",
            "inventory/bad.yml:3:5: 'web-01:8a': the port after ':' must be a number "
            "from 1 to 65535, got '8a'",
        ),
    ],
)
def test_document_level_mistakes(project: Path, text: str, expected: str) -> None:
    assert problems(write(project / "inventory/bad.yml", text)) == [expected]


def test_a_missing_file_is_a_config_error(project: Path) -> None:
    assert problems(project / "inventory/nope.yml") == [
        "inventory/nope.yml: inventory file not found"
    ]
