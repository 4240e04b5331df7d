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
from jarvisctl.core.errors import UnreachableError


@pytest.fixture
def system_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ssh_config"
    monkeypatch.setattr(ssh_config, "SYSTEM_CONFIG", path)
    return path


def ssh_file(name: str, text: str) -> Path:
    """A file under ~/.ssh (where a relative Include of the user's file points)."""
    path = Path(os.path.expanduser("~/.ssh")) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def user_config(text: str) -> Path:
    return ssh_file("config", text)


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

    def counting(parts: tuple[ssh_config._Part, ...]) -> object:
        parsed.append([part[0].path for part in parts])
        return real_parse(parts)

    monkeypatch.setattr(ssh_config, "_parse", counting)
    monkeypatch.setattr(ssh_config, "_CONFIGS", ssh_config._ConfigCache())
    assert [lookup("a").address for _ in range(3)] == ["10.0.0.1"] * 3
    assert parsed == [[path]]
    path.write_text("Host a\n  HostName 10.0.0.2\n")  # the same size, at once: still seen
    assert lookup("a").address == "10.0.0.2"
    system_config.write_text("Host b\n  HostName 10.0.0.3\n")  # a file that appears counts too
    assert lookup("b").address == "10.0.0.3"
    assert parsed[1:] == [[path], [path, system_config]]


def test_hosts_on_ports_of_their_own_share_one_parse_of_the_files(
    system_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet whose hosts each listen on a port of their own: the files are parsed once, and
    each host's port and user still act as command-line options over them."""
    user_config("Match user ops\n  Port 2222\nHost db\n  HostName 10.0.0.7\n  Port 2200\n")
    parsed: list[int] = []
    real_parse = ssh_config._parse

    def counting(parts: tuple[ssh_config._Part, ...]) -> object:
        parsed.append(len(parts))
        return real_parse(parts)

    monkeypatch.setattr(ssh_config, "_parse", counting)
    monkeypatch.setattr(ssh_config, "_CONFIGS", ssh_config._ConfigCache())
    routes = [lookup("db", user="root", port=3000 + n) for n in range(5)]
    assert [(r.address, r.port, r.user) for r in routes] == [
        ("10.0.0.7", 3000 + n, "root") for n in range(5)
    ]
    assert parsed == [1]
    assert lookup("db", user="ops").port == 2222  # Match user sees the given user
    assert lookup("db").port == 2200  # no option given: the files' own Port
    assert parsed == [1]


def test_an_unparsable_file_is_named(system_config: Path) -> None:
    path = user_config("Host a\n  HostName\n")
    with pytest.raises(UnreachableError, match=f"cannot read the ssh_config file {path}:2: "):
        lookup("a")
    with pytest.raises(UnreachableError, match=f"cannot read the ssh_config file {path}:2: "):
        lookup("a", port=2200)  # read again: what failed to parse is never kept


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


def test_include_reads_globbed_files_in_order_then_the_rest_of_the_file(
    system_config: Path,
) -> None:
    ssh_file("config.d/10-web", "Host web\n  HostName 10.0.0.10\n")
    ssh_file("config.d/20-all", "Host *\n  HostName 10.0.0.20\nHost other\n  Port 2200\n")
    ssh_file("config.d/.hidden", "Host *\n  HostName 10.6.6.6\n")  # glob skips dot files
    user_config("Include config.d/*\nUser ops\nInclude missing.conf\n")
    route = lookup("web")
    # the files in lexical order, first value wins; after the Include the file is at its top
    # level again, not still in the `Host other` block that 20-all ends with
    assert (route.address, route.user, route.port) == ("10.0.0.10", "ops", None)
    assert (lookup("db").address, lookup("other").port) == ("10.0.0.20", 2200)
    ssh_file("config.d/20-all", "Host db\n  HostName 10.0.0.21\n")
    assert lookup("db").address == "10.0.0.21"  # an included file's edit is seen


def test_include_in_a_host_block_is_conditional(system_config: Path) -> None:
    ssh_file("web.conf", "HostName 10.0.0.9\nInclude ~/.ssh/user.conf\n")
    ssh_file("user.conf", "User deploy\n")
    user_config("Host web\n  Include web.conf\nHost *\n  User everyone\n")
    assert (lookup("web").address, lookup("web").user) == ("10.0.0.9", "deploy")
    assert (lookup("db").address, lookup("db").user) == ("db", "everyone")


def test_include_in_a_host_star_block_may_bring_host_blocks(system_config: Path) -> None:
    ssh_file("hosts.conf", "Host web\n  HostName 10.0.0.9\n")
    user_config("Host *\n  Include hosts.conf\n  User everyone\n")
    assert (lookup("web").address, lookup("web").user) == ("10.0.0.9", "everyone")


def test_a_host_block_included_into_a_conditional_block_is_refused(system_config: Path) -> None:
    included = ssh_file("web.conf", "User deploy\nHost db\n  HostName 10.0.0.9\n")
    path = user_config("# fleet\nHost web\n  Include web.conf\n")
    with pytest.raises(UnreachableError) as raised:
        lookup("web")
    message = str(raised.value)
    assert message.startswith(f"cannot read the ssh_config file {included}:2: `Host db` is in ")
    assert f"the conditional `Host web` block at {path}:2;" in message
    assert "move that Include before the first Host line" in message


def test_the_system_file_includes_relative_to_its_own_directory(system_config: Path) -> None:
    (system_config.parent / "ssh_config.d").mkdir()
    (system_config.parent / "ssh_config.d" / "50-lab.conf").write_text("Host lab\n  Port 2222\n")
    system_config.write_text("Include ssh_config.d/*.conf\nHost *\n  User admin\n")
    route = lookup("lab")
    assert (route.port, route.user) == (2222, "admin")


def test_an_include_loop_and_a_bad_line_in_an_included_file_are_located(
    system_config: Path,
) -> None:
    loop = ssh_file("loop.conf", "Include loop.conf\n")
    user_config("Include loop.conf\n")
    with pytest.raises(UnreachableError, match=f"file {loop}:1: Include nested over 16 deep"):
        lookup("a")
    broken = ssh_file("broken.conf", "Host a\n  Port\n")
    user_config("Include broken.conf\n")
    with pytest.raises(UnreachableError, match=f"file {broken}:2: Unparsable line Port; fix"):
        lookup("a")


def test_known_hosts_files_are_read_with_their_tokens(system_config: Path) -> None:
    user_config(
        "Host web\n  HostName 10.0.0.5\n  Port 2200\n  User deploy\n"
        "  UserKnownHostsFile ~/.ssh/kh_%n %d/kh_%h_%p_%r_%u_100%%\n"
        "  GlobalKnownHostsFile none\n"
        "Host bad\n  UserKnownHostsFile ~/kh_%C\n"
    )
    home, me = os.path.expanduser("~"), getpass.getuser()
    route = lookup("web")
    assert route.user_known_hosts == (
        f"{home}/.ssh/kh_web",
        f"{home}/kh_10.0.0.5_2200_deploy_{me}_100%",
    )
    assert route.global_known_hosts == (os.devnull,)
    assert (lookup("db").user_known_hosts, lookup("db").global_known_hosts) == ((), ())
    with pytest.raises(UnreachableError, match=r"bad: ssh_config's known hosts file .* uses %C"):
        lookup("bad")


def test_times_are_read_as_openssh_writes_them(system_config: Path) -> None:
    user_config(
        "Host slow\n  ConnectTimeout 1m30s\n  ServerAliveInterval 45\n"
        "Host fast\n  ConnectTimeout 3\n  ServerAliveInterval 0\n"
        "Host bad\n  ConnectTimeout soon\n"
        "Host worse\n  ServerAliveInterval 10x\n"
    )
    slow, fast, other = lookup("slow"), lookup("fast"), lookup("other")
    assert (slow.connect_timeout, slow.server_alive_interval) == (90, 45)
    assert (fast.connect_timeout, fast.server_alive_interval) == (3, 0)
    assert (other.connect_timeout, other.server_alive_interval) == (None, None)
    with pytest.raises(UnreachableError, match=r"bad: ssh_config's `ConnectTimeout soon` is not"):
        lookup("bad")
    with pytest.raises(
        UnreachableError, match=r"`ServerAliveInterval 10x` is not valid; write sec"
    ):
        lookup("worse")


def test_inventory_ssh_options_win_over_the_files_like_ssh_o(system_config: Path) -> None:
    options = (("ProxyJump", "ops@bastion"), ("Port", "2200"), ("HostKeyAlias", "edge-7"))
    route = lookup("edge", options=options)  # no file at all
    assert (route.port, route.jumps, route.host_key_alias) == (
        2200,
        (Hop.parse("ops@bastion"),),
        "edge-7",
    )
    user_config("Host edge\n  HostName 10.0.0.7\n  Port 2222\n  ProxyJump other\n")
    route = lookup("edge", options=options)
    assert (route.address, route.port, route.jumps) == (
        "10.0.0.7",
        2200,
        (Hop.parse("ops@bastion"),),
    )
    assert lookup("edge", port=2300, options=options).port == 2300  # ansible_port first
    with pytest.raises(UnreachableError, match="the inventory's ssh options cannot be used"):
        lookup("edge", options=(("ProxyCommand", "a\nb"),))


def test_ports_and_yes_no_values_are_checked_as_openssh_checks_them(system_config: Path) -> None:
    user_config(
        "Host a\n  Port 22x\nHost b\n  Port 70000\nHost c\n  IdentitiesOnly maybe\n"
        "Host d\n  IdentitiesOnly true\n  HashKnownHosts TRUE\n"
    )
    for name, shown in (("a", "Port 22x"), ("b", "Port 70000"), ("c", "IdentitiesOnly maybe")):
        with pytest.raises(UnreachableError, match=f"`{shown}` is not valid"):
            lookup(name)
    route = lookup("d")
    assert route.identities_only and route.hash_known_hosts
