"""Loading Ansible's INI inventory format: sections, inline variables, value typing, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.config.inventory import load_inventory
from jarvisctl.config.inventory.ini_format import parse_ini_value
from jarvisctl.core.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    return [str(problem) for problem in caught.value.problems]


def test_sections_children_and_vars(project: Path) -> None:
    path = write(
        project / "inventory/hosts.ini",
        """
        # ungrouped hosts come before the first section
        mail.example.com

        [atlanta]
        host1 http_port=80 maxRequestsPerChild=808
        host2

        [raleigh]
        host2
        host3

        [southeast:children]
        atlanta
        raleigh

        [southeast:vars]
        some_server=foo.southeast.example.com
        halon_system_timeout=30
        """,
    )
    inventory = load_inventory(path)
    assert list(inventory.hosts) == ["mail.example.com", "host1", "host2", "host3"]
    assert inventory.groups["southeast"].children == ("atlanta", "raleigh")
    assert inventory.groups["all"].children == ("ungrouped", "southeast")
    assert inventory.groups["ungrouped"].hosts == ("mail.example.com",)
    assert inventory.hosts["host2"].groups == ("all", "southeast", "atlanta", "raleigh")
    host1 = inventory.hosts["host1"]
    assert dict(host1.vars) == {
        "some_server": "foo.southeast.example.com",
        "halon_system_timeout": 30,
        "http_port": 80,
        "maxRequestsPerChild": 808,
    }
    assert host1.origins["http_port"] == "inventory/hosts.ini:5:7"
    assert host1.origins["maxRequestsPerChild"] == "inventory/hosts.ini:5:20"
    assert host1.origins["some_server"] == "inventory/hosts.ini:17:1 (group southeast)"


def test_children_may_be_listed_before_their_section(project: Path) -> None:
    path = write(
        project / "inventory/hosts",
        """
        [usa:children]
        southeast
        northeast

        [northeast]
        boston

        [southeast]
        atlanta
        """,
    )
    inventory = load_inventory(path)
    # Ansible links a child when its own section appears, so that order is kept.
    assert inventory.groups["usa"].children == ("northeast", "southeast")
    assert [h.name for h in inventory.select("usa")] == ["boston", "atlanta"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80", 80),
        ("-3", -3),
        ("2.5", 2.5),
        ("True", True),
        ("true", "true"),
        ("FALSE", "FALSE"),
        ("yes", "yes"),
        ("None", None),
        ("'quoted'", "quoted"),
        ('"hello world"', "hello world"),
        ("[80, 443]", [80, 443]),
        ("(1, 2)", [1, 2]),
        ("{'a': (1,)}", {"a": [1]}),
        ("1j", "1j"),
        ("...", "..."),
        ("/usr/bin/python3", "/usr/bin/python3"),
        ("a=b", "a=b"),
    ],
)
def test_values_are_typed_like_ansible(text: str, expected: Any) -> None:
    assert parse_ini_value(text) == expected
    assert type(parse_ini_value(text)) is type(expected)


def test_host_lines_split_like_a_shell_and_vars_lines_do_not(project: Path) -> None:
    path = write(
        project / "inventory/hosts.ini",
        """
        [web]
        web-01 motd="hello world" port_text='8080' quoted_int="42"  # a comment
        [web:vars]
        banner = "hello world"
        note=a b # not a comment here
        """,
    )
    host = load_inventory(path).hosts["web-01"]
    assert host.vars["motd"] == "hello world"
    assert host.vars["port_text"] == 8080  # the shell split removes quotes before typing
    assert host.vars["quoted_int"] == 42
    assert host.vars["banner"] == "hello world"
    assert host.vars["note"] == "a b # not a comment here"


def test_ranges_and_ports(project: Path) -> None:
    path = write(
        project / "inventory/hosts.ini",
        """
        [web]
        www[01:05:2].example.com
        badwolf.example.com:5309
        [2001:db8::1]:2222
        2001:db8::2
        """,
    )
    inventory = load_inventory(path)
    assert list(inventory.hosts) == [
        "www01.example.com",
        "www03.example.com",
        "www05.example.com",
        "badwolf.example.com",
        "2001:db8::1",
        "2001:db8::2",
    ]
    assert inventory.hosts["badwolf.example.com"].vars["ansible_port"] == 5309
    assert inventory.hosts["2001:db8::1"].vars["ansible_port"] == 2222
    assert "ansible_port" not in inventory.hosts["2001:db8::2"].vars


def test_every_mistake_is_reported_with_line_and_column(project: Path) -> None:
    path = write(
        project / "inventory/hosts.ini",
        """
        [web]
        web-01 http_port
        web-02 motd="unterminated
          web[01:x]

        [web:var]
        a=1

        [ web ]

        [db:vars]
        flag

        [all:children]
        bad group name
        nowhere
        """,
    )
    assert problems(path) == [
        "inventory/hosts.ini:2:8: expected key=value after the host name, got 'http_port'",
        "inventory/hosts.ini:3:1: cannot split host line: No closing quotation",
        "inventory/hosts.ini:4:3: 'web[01:x]': range bounds must be numbers or single letters",
        "inventory/hosts.ini:6:6: unknown section type ':var' (valid: :vars, :children)",
        "inventory/hosts.ini:9:1: invalid section header '[ web ]' "
        "(valid: [group], [group:vars], [group:children], with no spaces inside)",
        "inventory/hosts.ini:11:1: [db:vars] is for a group that is not defined "
        "(add a [db] or [db:children] section)",
        "inventory/hosts.ini:12:1: expected key=value in [db:vars], got 'flag'",
        "inventory/hosts.ini:15:1: expected a group name in [all:children], got 'bad group name'",
        "inventory/hosts.ini:16:1: [all:children] lists 'nowhere', which is not defined "
        "(add a [nowhere] or [nowhere:children] section)",
    ]


def test_format_is_detected_from_content_without_an_extension(project: Path) -> None:
    yaml_path = write(project / "inventory/yaml_hosts", "all:\n  hosts:\n    web-01:\n")
    ini_path = write(project / "inventory/ini_hosts", "web-01 ansible_port=2222\n")
    assert list(load_inventory(yaml_path).hosts) == ["web-01"]
    assert load_inventory(ini_path).hosts["web-01"].vars["ansible_port"] == 2222


def test_a_yaml_document_in_an_ini_file_is_explained(project: Path) -> None:
    path = write(project / "inventory/hosts.ini", "---\nall:\n")
    assert problems(path)[0] == (
        "inventory/hosts.ini:1:1: '---' starts a YAML document, not an INI host line"
    )
