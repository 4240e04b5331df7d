"""Inventory sources as ansible-core reads them, compared with the real ansible-core: several
`-i` merged in order, inventory directories, executable inventory scripts, the implicit
localhost, `--limit @retry-file`, and the `inventory` commands on the project's inventory."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from jarvisctl.cli.common import EXIT_CONFIG
from jarvisctl.cli.inventory import inventory
from jarvisctl.config.inventory import Inventory, load_inventory
from jarvisctl.core.errors import ConfigError
from tests.ansible_core import Ansible, groups_of

pytest.importorskip("ansible")

DATA = Path(__file__).resolve().parent.parent / "data" / "inventory"
MERGED = [DATA / "merged" / "a" / "hosts.ini", DATA / "merged" / "b" / "hosts.yml"]
DIRECTORY = DATA / "directory"


def assert_same(mine: Inventory, ansible: Ansible) -> None:
    """The same hosts in the same order, the same group tree, the same merged variables."""
    assert list(mine.hosts) == list(ansible.inventory.hosts)
    assert {
        name: (group.children, group.hosts) for name, group in mine.groups.items()
    } == groups_of(ansible)
    for name, host in mine.hosts.items():
        assert dict(host.vars) == ansible.host_vars(name), name


def test_several_sources_merge_in_order_as_ansible_merges_them() -> None:
    mine = load_inventory(MERGED)
    assert_same(mine, Ansible(*MERGED))
    web1 = mine.hosts["web1"].vars
    # the cases the fixture is built for: b/group_vars/site.yml (a parent) wins over
    # a/group_vars/web.yml (its child) because variable files are read source by source
    assert web1["x"] == "b_parent"
    assert web1["y"] == "a_child"  # ... yet a group's file wins over a later group_vars/all
    assert web1["everyone"] == "b"  # inventory vars of a later source win
    assert mine.hosts["web2"].vars["role"] == "host_a"  # host vars win over group vars


def test_the_sources_in_the_other_order() -> None:
    assert_same(load_inventory(MERGED[::-1]), Ansible(*MERGED[::-1]))


def test_an_inventory_directory_reads_its_files_as_ansible_does() -> None:
    """Sorted files, subdirectories, README.md, *.bak, *~, *.orig, *.cfg and hidden files
    skipped; group_vars/ and host_vars/ inside the directory (not those of a subdirectory)."""
    mine = load_inventory(DIRECTORY)
    assert_same(mine, Ansible(DIRECTORY))
    assert mine.hosts["w1"].vars == {"v": 1}
    assert mine.hosts["d1"].vars == {"region": "eu"}


def test_a_directory_merged_with_a_file() -> None:
    sources = [DIRECTORY, MERGED[1]]
    assert_same(load_inventory(sources), Ansible(*sources))


def test_a_directory_with_no_inventory_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "README.md").write_text("the inventory moved\n")
    with pytest.raises(ConfigError, match=r": the inventory directory holds no inventory file"):
        load_inventory(tmp_path)


def test_a_file_in_a_directory_that_no_format_reads_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    a:\n")
    (tmp_path / "notes").write_text("[web\n")
    with pytest.raises(ConfigError) as caught:
        load_inventory(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'notes'}:1:1: '[web': unbalanced '['")


SCRIPT = """\
#!{python}
import json, sys
groups = {{
    "web": {{"hosts": ["web1", "web2"], "vars": {{"http_port": 80}}, "children": ["edge"]}},
    "edge": ["e1"],
    "all": {{"vars": {{"base_dir": "/srv"}}}},
}}
hostvars = {{"web1": {{"ansible_host": "192.0.2.1"}}, "e1": {{"rack": 4}}}}
if sys.argv[1:] == ["--list"]:
    {meta}
    print(json.dumps(groups))
elif sys.argv[1] == "--host":
    print(json.dumps(hostvars.get(sys.argv[2], {{}})))
"""


def write_script(path: Path, body: str) -> Path:
    path.write_text(body)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    "meta", ['groups["_meta"] = {"hostvars": hostvars}', "pass"], ids=["_meta", "--host"]
)
def test_an_inventory_script_is_run_as_ansible_runs_it(tmp_path: Path, meta: str) -> None:
    import sys

    script = write_script(tmp_path / "cloud.py", SCRIPT.format(python=sys.executable, meta=meta))
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text("tier: front\n")
    mine = load_inventory(script)
    assert_same(mine, Ansible(script))
    assert mine.hosts["web1"].vars["ansible_host"] == "192.0.2.1"
    assert mine.hosts["e1"].vars["rack"] == 4
    # an executable inventory file that is no program (no #!) is read as text, as by Ansible
    hosts = write_script(tmp_path / "hosts", "[web]\nweb1\n")
    assert_same(load_inventory(hosts), Ansible(hosts))
    # a script that is not executable is not read as INI (its lines would become hosts)
    script.chmod(0o644)
    with pytest.raises(ConfigError, match=r"cloud.py:1:1: starts with '#!' like an inventory"):
        load_inventory(script)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "echo 'token expired for api.example' >&2; exit 3",
            "cloud.sh --list: inventory script exited with status 3; its standard error ends: "
            "token expired for api.example",
        ),
        (
            'printf \'{\\n  "web": ["a",]\\n}\'',
            "cloud.sh --list:2:15: inventory script output is not JSON",
        ),
        ("echo '[1, 2]'", "cloud.sh --list: inventory script prints a JSON list"),
        (
            'echo \'{"web": {"hosts": "a b"}}\'',
            "cloud.sh --list: inventory script output: 'web.hosts' is a string 'a b', not a "
            "list of host names",
        ),
        (
            'echo \'{"web": ["a"], "_meta": {}}\'',
            "cloud.sh --list: inventory script prints _meta without an object of hostvars",
        ),
        (
            'if [ "$1" = --list ]; then echo \'{"web": ["a"]}\'; else exit 9; fi',
            "cloud.sh --host a: inventory script exited with status 9",
        ),
    ],
)
def test_a_failing_inventory_script_is_a_located_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_script(tmp_path / "cloud.sh", f"#!/bin/sh\n{body}\n")
    code, _, err = inventory_cli("list", "-i", "cloud.sh")
    assert code == EXIT_CONFIG
    assert err.startswith(f"error: {message}"), err


def test_an_inventory_script_is_bounded_in_time_and_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jarvisctl.config.inventory import script_run

    monkeypatch.setattr(script_run, "SCRIPT_TIMEOUT", 1.0)
    monkeypatch.setattr(script_run, "MAX_SCRIPT_OUTPUT", 1024 * 1024)
    pid_file = tmp_path / "child.pid"
    body = f"#!/bin/sh\nsleep 60 &\necho $! > {pid_file}\nwait\n"
    slow = write_script(tmp_path / "slow.sh", body)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"slow.sh --list: inventory script did not finish"):
        load_inventory(slow)
    assert time.monotonic() - started < 30
    child = int(pid_file.read_text())
    assert not _alive(child)  # its whole process group was ended
    chatty = write_script(tmp_path / "chatty.sh", "#!/bin/sh\nexec yes '[1,2,3]'\n")
    with pytest.raises(ConfigError, match=r"chatty.sh --list: inventory script printed more"):
        load_inventory(chatty)


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True


def test_the_implicit_localhost(tmp_path: Path) -> None:
    """Selected by naming it, local, with the `all` group's variables and its own host_vars
    file; never part of `all` or of a glob."""
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    site: paris\n  hosts:\n    web1:\n    web2:\n"
    )
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "localhost.yml").write_text("backup_dir: /srv/backup\n")
    source = tmp_path / "hosts.yml"
    mine, ansible = load_inventory(source), Ansible(source)
    for pattern in ["localhost", "all", "*", "localhost:web1", "all:!localhost"]:
        assert [h.name for h in mine.select(pattern)] == ansible.select(pattern), pattern
    # (ansible-core makes one implicit host, named as first asked for: ask a fresh one)
    assert [h.name for h in mine.select("127.0.0.1")] == Ansible(source).select("127.0.0.1")
    local = mine.select("localhost")[0]
    expected = ansible.host_vars("localhost")
    del expected["ansible_python_interpreter"]  # ansible-core's own Python; no Python here
    assert dict(local.vars) == expected
    assert mine.settings("localhost").connection == "local"
    assert "localhost" not in mine.hosts


def test_limit_reads_a_retry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("site.retry").write_text("web3\nweb1\n\n  db1  \n")
    mine, ansible = load_inventory(MERGED), Ansible(*MERGED)
    for pattern, limit in [
        ("all", "@site.retry"),
        ("web", "@site.retry"),
        ("all", "@site.retry:!web1"),
        ("all", f"@{tmp_path / 'site.retry'}"),
    ]:
        selected = [h.name for h in mine.select(pattern) if h in mine.select_limit(limit)]
        assert selected == ansible.select(pattern, limit), (pattern, limit)


def test_a_missing_or_empty_retry_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mine = load_inventory(MERGED)
    with pytest.raises(ConfigError, match=r"^gone.retry: limit file not found$"):
        mine.select_limit("@gone.retry")
    Path("empty.retry").write_text("\n\n")
    with pytest.raises(ConfigError, match=r"^empty.retry: --limit '@empty.retry': the limit"):
        mine.select_limit("@empty.retry")


def inventory_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(inventory, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_inventory_commands_use_the_projects_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jarvisctl.yml").write_text("inventory: fleet/hosts.yml\n")
    (tmp_path / "fleet").mkdir()
    (tmp_path / "fleet" / "hosts.yml").write_text(
        textwrap.dedent("""\
            all:
              children:
                jetsons:
                  hosts:
                    jetson-01:
        """)
    )
    (tmp_path / "playbooks").mkdir()
    monkeypatch.chdir(tmp_path / "playbooks")  # the project is found upward, as plan finds it
    code, out, _ = inventory_cli("list")
    assert code == 0
    shown = (tmp_path / "fleet" / "hosts.yml").resolve()
    assert out.splitlines()[-1] == f"1 host match 'all' in {shown}"
    code, out, _ = inventory_cli("graph")
    assert out.splitlines() == ["@all:", "  |--@ungrouped:", "  |--@jetsons:", "  |  |--jetson-01"]
    code, out, _ = inventory_cli("show", "jetson-01")
    assert code == 0
    assert out.splitlines()[1] == "groups: all, jetsons"


def test_inventory_commands_merge_several_i(tmp_path: Path) -> None:
    args = [arg for path in MERGED for arg in ("-i", str(path))]
    code, out, _ = inventory_cli("list", *args)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == Ansible(*MERGED).select("all")


def test_a_run_records_the_digest_of_every_inventory_file(tmp_path: Path) -> None:
    """The audit trail's run record: one file's sha256 as before; for several sources (and
    directories), a digest over all their files, so that a change in any of them shows."""
    import hashlib

    from jarvisctl.app.run import RunContext, RunRequest, run_playbooks
    from jarvisctl.config.project import load_project
    from jarvisctl.core.events import RUN_STARTED, Collector

    (tmp_path / "play.yml").write_text(
        "- name: p\n  hosts: localhost\n  checks:\n    - use: command\n"
        "      with: {command: 'echo 1'}\n"
    )
    first, second = tmp_path / "a.yml", tmp_path / "b.ini"
    first.write_text("all:\n  hosts:\n    localhost:\n      connection: local\n")
    second.write_text("[extra]\nlocalhost\n")
    project = load_project(start=tmp_path)

    def recorded(*sources: Path) -> str:
        events = Collector()
        request = RunRequest(playbooks=(tmp_path / "play.yml",), inventory=sources)
        run_playbooks(project, request, RunContext(events=events))
        (started,) = events.of_kind(RUN_STARTED)
        assert started.data["inventory"]["source"] == ", ".join(str(s) for s in sources)
        return str(started.data["inventory"]["sha256"])

    assert recorded(first) == "sha256:" + hashlib.sha256(first.read_bytes()).hexdigest()
    both = recorded(first, second)
    assert both.startswith("sha256:") and both != recorded(first)
    second.write_text("[extra]\nlocalhost\n[more]\nlocalhost\n")
    assert recorded(first, second) != both


@pytest.mark.parametrize(
    "sources",
    [MERGED, MERGED[::-1], [DIRECTORY], [DIRECTORY, *MERGED]],
    ids=["merged", "reversed", "directory", "directory-and-merged"],
)
def test_the_graph_of_merged_sources_is_ansible_inventorys(sources: list[Path]) -> None:
    import subprocess
    import sys

    command = Path(sys.executable).with_name("ansible-inventory")
    arguments = [arg for source in sources for arg in ("-i", str(source))]
    result = subprocess.run(
        [str(command), *arguments, "--graph"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    code, out, _ = inventory_cli("graph", *arguments)
    assert code == 0
    assert out.splitlines() == result.stdout.splitlines()
