"""`jarvisctl inventory list|show|graph` through click, as an operator runs them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.cli.common import EXIT_CONFIG
from jarvisctl.cli.inventory import inventory
from jarvisctl.config.inventory import default_inventory_path

PROD = """
all:
  children:
    jetsons:
      hosts:
        jetson-01:
          ansible_host: 192.0.2.11
          ansible_user: ubuntu
        jetson-02:
          ansible_host: 192.0.2.12
      vars:
        data_mount: /data
    servers:
      hosts:
        db-01:
          port: 2222
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory/prod.yml").write_text(textwrap.dedent(PROD).lstrip("\n"))
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(inventory, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_prints_a_table(project: Path) -> None:
    code, out, _ = run("list", "-i", "inventory/prod.yml", "jetsons:db-01")
    assert code == 0
    assert out.splitlines() == [
        "HOST       ADDRESS     PORT  USER    CONNECTION  GROUPS",
        "jetson-01  192.0.2.11  -     ubuntu  ssh         jetsons",
        "jetson-02  192.0.2.12  -     -       ssh         jetsons",
        "db-01      db-01       2222  -       ssh         servers",
        "3 hosts match 'jetsons:db-01' in inventory/prod.yml",
    ]


def test_list_json(project: Path) -> None:
    code, out, _ = run("list", "--inventory", "inventory/prod.yml", "--json", "jetson-0*")
    assert code == 0
    body = json.loads(out)
    assert body["inventory"] == "inventory/prod.yml"
    assert [h["name"] for h in body["hosts"]] == ["jetson-01", "jetson-02"]
    assert body["hosts"][0]["address"] == "192.0.2.11"
    assert body["hosts"][0]["groups"] == ["all", "jetsons"]
    assert body["hosts"][0]["host_key_policy"] == "strict"


def test_show_lists_each_variable_with_its_origin(project: Path) -> None:
    code, out, _ = run("show", "-i", "inventory/prod.yml", "jetson-01")
    assert code == 0
    assert out.splitlines() == [
        "host: jetson-01  (inventory/prod.yml:5:9)",
        "groups: all, jetsons",
        "connection: ssh ubuntu@192.0.2.11, host keys strict",
        "variables:",
        '  ansible_host = "192.0.2.11"  # inventory/prod.yml:6:11',
        '  ansible_user = "ubuntu"      # inventory/prod.yml:7:11',
        '  data_mount   = "/data"       # inventory/prod.yml:11:9 (group jetsons)',
    ]


def test_show_json(project: Path) -> None:
    code, out, _ = run("show", "-i", "inventory/prod.yml", "--json", "db-01")
    assert code == 0
    body = json.loads(out)
    assert body["vars"] == {"port": {"value": 2222, "origin": "inventory/prod.yml:15:11"}}
    assert body["connection"]["port"] == 2222
    assert body["location"] == "inventory/prod.yml:14:9"


def test_graph(project: Path) -> None:
    code, out, _ = run("graph", "-i", "inventory/prod.yml")
    assert code == 0
    assert out.splitlines() == [
        "@all:",
        "  |--@ungrouped:",
        "  |--@jetsons:",
        "  |  |--jetson-01",
        "  |  |--jetson-02",
        "  |--@servers:",
        "  |  |--db-01",
    ]
    code, out, _ = run("graph", "-i", "inventory/prod.yml", "servers")
    assert out.splitlines() == ["@servers:", "  |--db-01"]


def test_mistakes_exit_with_the_config_code_and_a_located_message(project: Path) -> None:
    (project / "inventory/bad.yml").write_text("web:\n  hostz:\n    web-01:\n")
    code, out, err = run("list", "-i", "inventory/bad.yml")
    assert code == EXIT_CONFIG
    assert out == ""
    assert err.splitlines() == [
        "error: inventory/bad.yml:2:3: 'hostz' is not a valid key for group 'web' "
        "(valid: hosts, children, vars)",
        "1 configuration error",
    ]


def test_bad_settings_of_every_listed_host_are_reported_together(project: Path) -> None:
    (project / "inventory/bad.yml").write_text(
        "web:\n  hosts:\n    a: {port: x}\n    b: {connection: telnet}\n"
    )
    code, _, err = run("list", "-i", "inventory/bad.yml")
    assert code == EXIT_CONFIG
    assert err.splitlines()[-1] == "2 configuration errors"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("show", "jetson-1"),
            "error: no host named 'jetson-1' in inventory/prod.yml "
            "(did you mean: jetson-01, jetson-02)",
        ),
        (
            ("graph", "edge"),
            "error: no group named 'edge' in inventory/prod.yml "
            "(known: all, jetsons, servers, ungrouped)",
        ),
        (
            ("list", "jetson"),
            "error: 'jetson' in host pattern 'jetson' is neither a host nor "
            "a group (did you mean: jetsons, jetson-02, jetson-01)",
        ),
    ],
)
def test_unknown_names(project: Path, args: tuple[str, ...], message: str) -> None:
    code, _, err = run(*args, "-i", "inventory/prod.yml")
    assert code == EXIT_CONFIG
    assert err.strip() == message


def test_without_an_inventory_the_local_machine_or_inventory_local_yml(project: Path) -> None:
    assert default_inventory_path(project) is None
    code, out, _ = run("list")
    assert code == 0
    assert out.splitlines()[1].split() == ["localhost", "localhost", "-", "-", "local", "-"]
    (project / "inventory/local.yml").write_text("all:\n  hosts:\n    box:\n")
    assert default_inventory_path(project) == project / "inventory/local.yml"
    code, out, _ = run("list")
    assert out.splitlines()[-1] == "1 host match 'all' in inventory/local.yml"
