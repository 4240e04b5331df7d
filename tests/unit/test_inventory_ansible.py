"""jarvisctl against the real ansible-core, on the examples of Ansible's inventory guide.

The fixtures under tests/data/inventory/ansible_docs/ are the INI and YAML examples of "How to
build your inventory" (webservers/dbservers, east/west/prod/test, atlanta/raleigh/southeast/usa,
ranges, aliases, connection variables, group priority) with group_vars/ and host_vars/ beside
them. ansible-core reads them in-process; both must select and merge the same.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jarvisctl.cli.inventory import graph_lines
from jarvisctl.config.inventory import Inventory, load_inventory
from tests.ansible_core import Ansible

pytest.importorskip("ansible")

DOCS = Path(__file__).resolve().parent.parent / "data" / "inventory" / "ansible_docs"
SOURCES = ["hosts.ini", "hosts.yml"]
PATTERNS = [
    "all",
    "*",
    "webservers",
    "ungrouped",
    "usa",
    "southeast",
    "webservers:dbservers",
    "webservers,dbservers",
    "webservers:&prod",
    "prod:&webservers",
    "all:!usa",
    "usa:!raleigh:&a_group",
    "&prod:!foo.example.com",
    "!webservers",
    "*.example.com",
    "host?",
    "db-*:www*",
    "~(one|two)\\.",
    "~host[13]",
    "dbservers[0]",
    "dbservers[-1]",
    "dbservers[1:3]",
    "webservers[1:]",
    "usa[2:]",
    "jumper:localhost:badwolf.example.com",
    "b_group:a_group:atlanta",
]


@pytest.fixture(params=SOURCES)
def pair(request: pytest.FixtureRequest) -> tuple[Inventory, Ansible]:
    source = DOCS / request.param
    return load_inventory(source), Ansible(source)


def test_every_pattern_selects_the_same_hosts_in_the_same_order(
    pair: tuple[Inventory, Ansible],
) -> None:
    mine, ansible = pair
    for pattern in PATTERNS:
        assert [h.name for h in mine.select(pattern)] == ansible.select(pattern), pattern


def test_the_same_hosts_and_groups(pair: tuple[Inventory, Ansible]) -> None:
    mine, ansible = pair
    assert list(mine.hosts) == list(ansible.inventory.hosts)
    assert set(mine.groups) == set(ansible.inventory.groups)
    for name, group in ansible.inventory.groups.items():
        assert mine.groups[name].children == tuple(g.name for g in group.child_groups), name
        assert mine.groups[name].hosts == tuple(h.name for h in group.hosts), name
    for name, host in ansible.inventory.hosts.items():
        assert set(mine.hosts[name].groups) == {g.name for g in host.get_groups()}, name


def test_every_host_merges_the_same_variables(pair: tuple[Inventory, Ansible]) -> None:
    mine, ansible = pair
    for name, host in mine.hosts.items():
        assert dict(host.vars) == ansible.host_vars(name), name


def test_the_precedence_cases_the_fixture_exercises(pair: tuple[Inventory, Ansible]) -> None:
    mine, _ = pair
    host1, host3 = mine.hosts["host1"], mine.hosts["host3"]
    assert host1.vars["ntp_server"] == "ntp.example.com"  # group_vars/all over [atlanta:vars]
    assert host1.vars["proxy"] == "proxy.host1.example.com"  # host_vars over group vars
    assert host1.vars["escape_pods"] == 4  # group_vars/southeast.yml over [southeast:vars]
    assert host3.vars["testvar"] == "a"  # ansible_group_priority: 10
    assert host3.vars["ntp_server"] == "acme.example.org"  # group_vars/raleigh/ directory
    assert mine.hosts["foo.example.com"].vars["http_port"] == 8081
    assert mine.hosts["one.example.com"].vars["db_port"] == 5432  # group_vars/dbservers.json


@pytest.mark.parametrize("source", SOURCES)
def test_graph_matches_ansible_inventory_graph(source: str) -> None:
    command = Path(sys.executable).with_name("ansible-inventory")
    if not command.exists():
        found = shutil.which("ansible-inventory")
        if found is None:
            pytest.skip("ansible-inventory is not installed")
        command = Path(found)
    result = subprocess.run(
        [str(command), "-i", str(DOCS / source), "--graph"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert graph_lines(load_inventory(DOCS / source), "all") == result.stdout.splitlines()
