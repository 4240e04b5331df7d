"""Variable precedence, group_vars/ and host_vars/, and where each value came from."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jarvisctl.config.inventory import load_inventory
from jarvisctl.core.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


NESTED = """
all:
  vars: {level: all, only_all: 1}
  children:
    usa:
      vars: {level: usa}
      children:
        southeast:
          vars: {level: southeast}
          hosts:
            host1:
            host2: {level: host}
"""


def test_child_groups_override_parents_and_hosts_override_groups(project: Path) -> None:
    inventory = load_inventory(write(project / "inventory/hosts.yml", NESTED))
    assert inventory.hosts["host1"].vars["level"] == "southeast"
    assert inventory.hosts["host1"].vars["only_all"] == 1
    assert inventory.hosts["host2"].vars["level"] == "host"
    assert inventory.hosts["host1"].origins["level"] == (
        "inventory/hosts.yml:8:18 (group southeast)"
    )


def test_same_depth_groups_merge_by_name_unless_a_priority_is_set(project: Path) -> None:
    inventory = load_inventory(
        write(
            project / "inventory/hosts.yml",
            """
            b_group:
              hosts: {h1: , h2: }
              vars: {testvar: b}
            a_group:
              hosts: {h1: }
              vars: {testvar: a}
            c_group:
              hosts: {h2: }
              vars: {testvar: c, ansible_group_priority: 0}
            """,
        )
    )
    assert inventory.hosts["h1"].vars["testvar"] == "b"  # b after a, by name
    assert inventory.hosts["h1"].groups == ("all", "a_group", "b_group")
    assert inventory.hosts["h2"].vars["testvar"] == "b"  # c has the lower priority
    assert "ansible_group_priority" not in inventory.hosts["h2"].vars


def test_group_vars_files_override_every_inventory_group_var(project: Path) -> None:
    path = write(project / "inventory/hosts.yml", NESTED)
    write(project / "inventory/group_vars/all.yml", "level: group_vars all\n")
    write(project / "inventory/group_vars/usa.yaml", "from_usa: yes\n")
    inventory = load_inventory(path)
    host1 = inventory.hosts["host1"]
    # group_vars/all ranks above the inventory's own group vars, as Ansible documents.
    assert host1.vars["level"] == "group_vars all"
    assert host1.origins["level"] == "inventory/group_vars/all.yml:1:1"
    assert host1.vars["from_usa"] is True
    assert inventory.hosts["host2"].vars["level"] == "host"
    assert inventory.groups["usa"].vars == {"level": "usa", "from_usa": True}


def test_host_vars_files_override_inventory_host_vars(project: Path) -> None:
    path = write(project / "inventory/hosts.yml", NESTED)
    write(project / "inventory/host_vars/host2", "---\n# no extension\nlevel: host_vars\n")
    host2 = load_inventory(path).hosts["host2"]
    assert host2.vars["level"] == "host_vars"
    assert host2.origins["level"] == "inventory/host_vars/host2:3:1"


def test_a_var_directory_is_read_in_name_order_and_later_files_win(project: Path) -> None:
    path = write(project / "inventory/hosts.yml", NESTED)
    directory = project / "inventory/group_vars/southeast"
    write(directory / "10-base.yml", "ntp: a\ndns: a\n")
    write(directory / "20-site.yml", "ntp: b\n")
    write(directory / "nested/30-more.json", '{"dns": "c"}\n')
    write(directory / "README.md", "not: read\n")
    write(directory / ".hidden.yml", "ntp: hidden\n")
    write(directory / "40-backup.yml~", "ntp: backup\n")
    host1 = load_inventory(path).hosts["host1"]
    assert (host1.vars["ntp"], host1.vars["dns"]) == ("b", "c")
    assert "not" not in host1.vars
    assert host1.origins["dns"] == "inventory/group_vars/southeast/nested/30-more.json:1:2"


def test_the_first_of_name_yml_yaml_json_is_the_only_file_read(project: Path) -> None:
    path = write(project / "inventory/hosts.yml", NESTED)
    write(project / "inventory/group_vars/usa.yml", "pick: yml\n")
    write(project / "inventory/group_vars/usa.json", '{"pick": "json", "extra": 1}\n')
    host1 = load_inventory(path).hosts["host1"]
    assert host1.vars["pick"] == "yml"
    assert "extra" not in host1.vars


def test_files_for_unknown_groups_are_ignored(project: Path) -> None:
    path = write(project / "inventory/hosts.yml", NESTED)
    write(project / "inventory/group_vars/staging.yml", "- not even a mapping\n")
    assert "staging" not in load_inventory(path).groups


def test_bad_var_files_are_reported_together_with_their_locations(project: Path) -> None:
    path = write(project / "inventory/hosts.yml", NESTED)
    write(project / "inventory/group_vars/usa.yml", "- a\n- b\n")
    write(project / "inventory/host_vars/host1.yml", "ok: 1\n1: numeric key\n")
    write(project / "inventory/host_vars/host2.yml", "a: [1,\n")
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    found = [str(p) for p in caught.value.problems]
    assert found[:2] == [
        "inventory/group_vars/usa.yml:1:1: a variables file must be a mapping of names to "
        "values, got list (e.g. ntp_server: ntp.example.com)",
        "inventory/host_vars/host1.yml:2:1: variable name 1 must be a string (quote it)",
    ]
    assert found[2].startswith("inventory/host_vars/host2.yml:2:1: YAML syntax error: ")
    assert len(found) == 3


def test_ini_vars_and_group_vars_merge_the_same_way(project: Path) -> None:
    path = write(
        project / "inventory/hosts",
        """
        [web]
        web-01 role=frontend

        [web:vars]
        role=backend
        http_port=80

        [all:vars]
        http_port=8000
        """,
    )
    write(project / "inventory/group_vars/web.yml", "http_port: 8080\n")
    web01 = load_inventory(path).hosts["web-01"]
    assert dict(web01.vars) == {"http_port": 8080, "role": "frontend"}
    assert web01.origins == {
        "http_port": "inventory/group_vars/web.yml:1:1",
        "role": "inventory/hosts:2:8",
    }
