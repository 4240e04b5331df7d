"""Host patterns in Ansible's syntax, evaluated in ansible-core's order."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jarvisctl.config.inventory import Inventory, load_inventory
from jarvisctl.config.inventory.patterns import order_terms, split_pattern
from jarvisctl.core.errors import PatternError

FLEET = """
all:
  hosts:
    controller:
  children:
    jetsons:
      hosts:
        jetson-01:
        jetson-02:
        jetson-10:
    servers:
      hosts:
        db-01:
        web-01:
        web-02:
    prod:
      hosts:
        jetson-01:
        db-01:
        web-01:
    edge:
      children:
        jetsons:
        lab:
          hosts:
            pi-01:
"""


@pytest.fixture
def fleet(tmp_path: Path) -> Inventory:
    path = tmp_path / "fleet.yml"
    path.write_text(textwrap.dedent(FLEET))
    return load_inventory(path)


def names(inventory: Inventory, pattern: str) -> list[str]:
    return [host.name for host in inventory.select(pattern)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            "all",
            [
                "controller",
                "jetson-01",
                "jetson-02",
                "jetson-10",
                "db-01",
                "web-01",
                "web-02",
                "pi-01",
            ],
        ),
        (
            "*",
            [
                "controller",
                "jetson-01",
                "jetson-02",
                "jetson-10",
                "db-01",
                "web-01",
                "web-02",
                "pi-01",
            ],
        ),
        ("jetsons", ["jetson-01", "jetson-02", "jetson-10"]),
        ("edge", ["jetson-01", "jetson-02", "jetson-10", "pi-01"]),
        ("db-01", ["db-01"]),
        ("servers:jetsons", ["db-01", "web-01", "web-02", "jetson-01", "jetson-02", "jetson-10"]),
        ("servers,jetsons", ["db-01", "web-01", "web-02", "jetson-01", "jetson-02", "jetson-10"]),
        ("servers, lab", ["db-01", "web-01", "web-02", "pi-01"]),
        ("jetsons:&prod", ["jetson-01"]),
        ("&prod:jetsons", ["jetson-01"]),
        ("all:!jetsons", ["controller", "db-01", "web-01", "web-02", "pi-01"]),
        ("!jetsons", ["controller", "db-01", "web-01", "web-02", "pi-01"]),
        ("edge:!jetson-02:&prod", ["jetson-01"]),
        ("web-*", ["web-01", "web-02"]),
        ("jetson-0?", ["jetson-01", "jetson-02"]),
        ("jet*", ["jetson-01", "jetson-02", "jetson-10"]),
        ("~(web|db)-0[12]", ["db-01", "web-01", "web-02"]),
        ("~jetson-1", ["jetson-10"]),
        ("jetsons[0]", ["jetson-01"]),
        ("jetsons[-1]", ["jetson-10"]),
        ("jetsons[1:2]", ["jetson-02", "jetson-10"]),
        ("jetsons[1:]", ["jetson-02", "jetson-10"]),
        ("jetsons[0:0]", ["jetson-01"]),  # Ansible's quirk: an end of 0 means a single host
        ("jetsons[5:9]", []),
        ("ungrouped", ["controller"]),
        ("web-02:web-01:web-02", ["web-02", "web-01"]),
        ("nomatch*", []),
        ("~^nothing$", []),
    ],
)
def test_pattern(fleet: Inventory, pattern: str, expected: list[str]) -> None:
    assert names(fleet, pattern) == expected


def test_a_glob_matching_a_group_also_matches_hosts(fleet: Inventory) -> None:
    # 'prod*' names the group prod; with a glob Ansible also looks at host names.
    assert names(fleet, "prod*") == ["jetson-01", "db-01", "web-01"]


def test_ipv6_hosts(tmp_path: Path) -> None:
    path = tmp_path / "v6.yml"
    path.write_text("v6:\n  hosts:\n    '[2001:db8::1]':\n    '[2001:db8::2]:2222':\n")
    inventory = load_inventory(path)
    assert names(inventory, "2001:db8::1") == ["2001:db8::1"]
    # As in Ansible, colons split a pattern unless it is one address or has commas.
    assert names(inventory, "2001:db8::*,") == ["2001:db8::1", "2001:db8::2"]
    assert inventory.hosts["2001:db8::2"].vars["ansible_port"] == 2222


def test_select_returns_the_hosts_themselves(fleet: Inventory) -> None:
    selected = fleet.select("db-01")
    assert selected == (fleet.hosts["db-01"],)
    assert {fleet.hosts["db-01"], *selected} == {fleet.hosts["db-01"]}


def test_split_and_order_like_ansible() -> None:
    assert split_pattern("a:b:&c:!d") == ["a", "b", "&c", "!d"]
    assert split_pattern("a:b,c") == ["a:b", "c"]
    assert split_pattern("web[1:3]:db") == ["web[1:3]", "db"]
    assert split_pattern("2001:db8::1") == ["2001:db8::1"]
    assert order_terms(["!x", "&y", "z"]) == ["z", "&y", "!x"]
    assert order_terms(["!x"]) == ["all", "!x"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            "jetson",
            "'jetson' in host pattern 'jetson' is neither a host nor a group "
            "(did you mean: jetsons, jetson-10, jetson-02, jetson-01)",
        ),
        (
            "all:!db-1",
            "'db-1' in host pattern 'all:!db-1' is neither a host nor a group "
            "(did you mean: db-01, web-01)",
        ),
        (
            "zzz",
            "'zzz' in host pattern 'zzz' is neither a host nor a group (groups known: all, "
            "edge, jetsons, lab, prod, servers, ungrouped)",
        ),
        (
            "~web(",
            "'~web(' in host pattern '~web(' is not a valid regular expression: "
            "missing ), unterminated subpattern at position 3",
        ),
        (
            "jetsons[7]",
            "'jetsons[7]' in host pattern 'jetsons[7]' selects no host "
            "(it matches 3, counted from 0)",
        ),
        ("", "empty host pattern '' (e.g. all, web, 'web:&prod')"),
    ],
)
def test_pattern_errors(fleet: Inventory, pattern: str, message: str) -> None:
    with pytest.raises(PatternError) as caught:
        fleet.select(pattern)
    assert str(caught.value) == message


def test_a_play_and_a_limit_intersect(fleet: Inventory) -> None:
    play = fleet.select("edge:servers")
    limit = set(fleet.select("jetson-0*:web-01"))
    assert [h.name for h in play if h in limit] == ["jetson-01", "jetson-02", "web-01"]
