"""What ~/.ssh/config and the system ssh_config say about a host (HOME is isolated per test)."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jarvisctl.connection import ssh_config
from jarvisctl.connection.ssh_config import Hop, lookup
from jarvisctl.errors import UnreachableError


@pytest.fixture
def system_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ssh_config"
    monkeypatch.setattr(ssh_config, "SYSTEM_CONFIG", path)
    return path


def user_config(text: str) -> Path:
    path = Path(os.path.expanduser("~/.ssh/config"))
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "host", "user", "port"),
    [
        ("jump", "jump", None, None),
        ("ops@jump.example.org", "jump.example.org", "ops", None),
        ("jump:2222", "jump", None, 2222),
        ("ops@10.0.0.1:2200", "10.0.0.1", "ops", 2200),
        ("ops@[fd00::1]:2200", "fd00::1", "ops", 2200),
        ("fd00::1", "fd00::1", None, None),
    ],
)
def test_proxy_jump_hosts_are_read_as_openssh_writes_them(
    text: str, host: str, user: str | None, port: int | None
) -> None:
    assert Hop.parse(text) == Hop(host, user, port, text)


def test_without_any_file_a_host_is_reached_as_named(system_config: Path) -> None:
    route = lookup("web1")
    assert (route.address, route.port, route.user) == ("web1", None, getpass.getuser())
    assert (route.identity_files, route.jumps, route.proxy_command) == ((), (), None)


def test_hostname_user_port_identities_and_jumps(system_config: Path) -> None:
    user_config(
        "Host web-*\n"
        "  HostName 10.1.2.3\n"
        "  User deploy\n"
        "  Port 2222\n"
        "  IdentityFile ~/.ssh/web\n"
        "  ProxyJump ops@bastion:2200,inner\n"
        "Host *\n"
        "  IdentityFile ~/.ssh/all\n"
    )
    route = lookup("web-1")
    assert (route.address, route.port, route.user) == ("10.1.2.3", 2222, "deploy")
    home = os.path.expanduser("~")
    assert route.identity_files == (f"{home}/.ssh/web", f"{home}/.ssh/all")  # accumulated
    assert route.jumps == (Hop("bastion", "ops", 2200, "ops@bastion:2200"), Hop.parse("inner"))
    assert lookup("web-1", user="root").user == "root"  # the inventory's user wins


def test_the_user_file_wins_over_the_system_file(system_config: Path) -> None:
    system_config.write_text("Host db\n  HostName 10.9.9.9\n  User admin\n  Port 2200\n")
    user_config("Host db\n  HostName 10.0.0.5\n")
    route = lookup("db")
    assert (route.address, route.user, route.port) == ("10.0.0.5", "admin", 2200)


def test_none_switches_a_proxy_off(system_config: Path) -> None:
    user_config(
        "Host direct\n  ProxyJump none\n  ProxyCommand none\n"
        "Host *\n  ProxyJump bastion\n  ProxyCommand nc %h %p\n"
    )
    route = lookup("direct")
    assert (route.jumps, route.proxy_command) == ((), None)
    assert lookup("other").proxy_command == "nc other 22"  # paramiko expands the tokens


def test_files_are_parsed_once_while_unchanged(
    system_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = user_config("Host a\n  HostName 10.0.0.1\n")
    parsed: list[list[Path]] = []
    real_parse = ssh_config._parse

    def counting(files: list[tuple[Path, str]], first: str) -> object:
        parsed.append([path for path, _ in files])
        return real_parse(files, first)

    monkeypatch.setattr(ssh_config, "_parse", counting)
    monkeypatch.setattr(ssh_config, "_CONFIGS", ssh_config._ConfigCache())
    assert [lookup("a").address for _ in range(3)] == ["10.0.0.1"] * 3
    assert parsed == [[path]]
    path.write_text("Host a\n  HostName 10.0.0.2\n")  # the same size, at once: still seen
    assert lookup("a").address == "10.0.0.2"
    system_config.write_text("Host b\n  HostName 10.0.0.3\n")  # a file that appears counts too
    assert lookup("b").address == "10.0.0.3"
    assert parsed[1:] == [[path], [path, system_config]]


def test_an_unparsable_file_is_named(system_config: Path) -> None:
    path = user_config("Host a\n  HostName\n")
    with pytest.raises(UnreachableError, match=f"cannot read the ssh_config file {path}:2: "):
        lookup("a")


def run_python(code: str, home: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(home)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_paramiko_is_imported_without_invoke_which_stays_importable(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from jarvisctl.connection.paramiko_import import load_paramiko\n"
        "load_paramiko()\n"
        "print('paramiko' in sys.modules, 'invoke' in sys.modules, 'asyncio' in sys.modules)\n"
        "import invoke, paramiko.config\n"
        "print(paramiko.config.invoke)\n"
    )
    assert run_python(code, tmp_path).splitlines() == ["True False False", "None"]


def test_match_exec_still_works_after_such_an_import(tmp_path: Path) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(
        'Match host db exec "test -d /"\n  HostName 10.0.0.7\n'
        'Match host db exec "test -d /nonexistent"\n  User nobody\n'
    )
    code = (
        "from jarvisctl.connection import ssh_config\n"
        "from jarvisctl.connection.paramiko_import import load_paramiko\n"
        "from pathlib import Path\n"
        "load_paramiko()\n"
        "ssh_config.SYSTEM_CONFIG = Path('/nonexistent')\n"
        "route = ssh_config.lookup('db', user=None)\n"
        "print(route.address, route.user == 'nobody')\n"
    )
    assert run_python(code, tmp_path).split() == ["10.0.0.7", "False"]


def test_the_inventory_user_and_port_win_as_command_line_options(system_config: Path) -> None:
    user_config("Host db\n  User admin\n  Port 22\n  ProxyCommand nc -X %r %h %p\n")
    route = lookup("db", user="ops", port=2200)
    assert (route.user, route.port, route.proxy_command) == ("ops", 2200, "nc -X ops db 2200")
    plain = lookup("db")
    assert (plain.user, plain.port, plain.proxy_command) == ("admin", 22, "nc -X admin db 22")
