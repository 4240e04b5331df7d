"""SSH connections against real sshd hosts on loopback: identities, faults, timeouts, reuse."""

from __future__ import annotations

import hashlib
import os
import random
import socket
import stat
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest

from jarvisctl.config.inventory.ssh_args import ssh_options
from jarvisctl.connection import ConnectionSettings, hostkeys, make_connection, open_connection
from jarvisctl.connection import ssh as ssh_module
from jarvisctl.connection.base import KILL_AFTER, LOCAL_GRACE
from jarvisctl.connection.capture import OUTPUT_TAIL_BYTES, StreamDigest
from jarvisctl.connection.hostkeys import AEAD_CIPHERS, known_hosts_name
from jarvisctl.connection.ssh import SSHConnection
from jarvisctl.connection.tcp import EarlySocket
from jarvisctl.core.errors import AuthenticationError, HostKeyError, UnreachableError
from tests.e2e.sshd import SshdFleet, SshdHost, fingerprint_of, write_ed25519_key

pytestmark = pytest.mark.e2e


def ssh(settings: ConnectionSettings) -> SSHConnection:
    connection = open_connection(settings)
    assert isinstance(connection, SSHConnection)
    return connection


@pytest.fixture
def marker() -> str:
    """A `sleep` argument no other process on this machine has: 3000.<random> seconds."""
    return f"3000.{random.randrange(10**8):08d}"


def processes_with(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", f"sleep {marker}"], capture_output=True, text=True)
    return found.stdout.splitlines()


def sleeps_with(marker: str) -> list[str]:
    return [line for line in processes_with(marker) if line.split()[1] == "sleep"]


def no_process_left(marker: str, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while processes_with(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def follow_hint(error: Exception) -> None:
    """Run the shell commands an error message tells the operator to run (indented lines)."""
    for line in str(error).splitlines():
        if line.startswith("  ssh-"):
            subprocess.run(line.strip(), shell=True, check=True, capture_output=True)


def test_each_host_runs_commands_as_itself(sshd_hosts: list[SshdHost]) -> None:
    ports = {host.port for host in sshd_hosts}
    assert 22 in ports and len(ports) > 1  # both known_hosts forms: `addr` and `[addr]:port`
    for host in sshd_hosts:
        with ssh(host.settings()) as connection:
            result = connection.run("echo $JARVIS_TEST_HOST; id -u; echo $0", timeout=5)
            assert (result.exit_code, result.stdout) == (0, f"{host.name}\n0\nsh\n")
            assert result.stderr == ""  # root's real .bashrc (pyenv) is not in the way
            assert connection.host_key_fingerprint == host.fingerprint
            assert connection.accepted_host_key is None


def test_output_exit_code_and_stdin(sshd_hosts: list[SshdHost]) -> None:
    with ssh(sshd_hosts[0].settings()) as connection:
        result = connection.run("echo out; echo err >&2; exit 3", timeout=5)
        assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
        assert not result.timed_out
        text = "0123456789abcdef\n" * 200_000  # 3.4 MB in and out at once: no deadlock
        echoed = connection.run("cat; echo done", timeout=20, stdin=text)
        whole = (text + "done\n").encode()  # kept: its tail, and the size and sha256 of all
        assert echoed.stdout.encode() == whole[-OUTPUT_TAIL_BYTES:]
        assert echoed.stdout_digest == StreamDigest(
            len(whole), hashlib.sha256(whole).hexdigest(), OUTPUT_TAIL_BYTES
        )
        no_input = connection.run("cat; echo eof", timeout=5)
        assert no_input.stdout == "eof\n"
        assert no_input.duration < 1


def test_descriptors_past_1024_are_waited_on(sshd_hosts: list[SshdHost]) -> None:
    """A controller with hundreds of connections has descriptors numbered past FD_SETSIZE
    (1024): select() refused them (`filedescriptor out of range in select()` at 500 hosts)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.fail(f"this test needs 1200 descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(filler) >= 1024
        with ssh(sshd_hosts[0].settings()) as connection:  # the socket: past 1024 too
            result = connection.run("sleep 0.2; echo late", timeout=5)
        assert (result.exit_code, result.stdout) == (0, "late\n")
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_one_connection_serves_many_commands(sshd_hosts: list[SshdHost]) -> None:
    with ssh(sshd_hosts[1].settings()) as connection:
        started = time.monotonic()
        results = [connection.run(f"echo {n} $SSH_CONNECTION", timeout=5) for n in range(200)]
        elapsed = time.monotonic() - started
    assert [r.stdout.split()[0] for r in results] == [str(n) for n in range(200)]
    client_ports = {r.stdout.split()[2] for r in results}
    assert len(client_ports) == 1  # all on one TCP connection
    assert elapsed < 10


def test_run_opens_lazily_and_reopens_after_close(sshd_hosts: list[SshdHost]) -> None:
    connection = make_connection(sshd_hosts[0].settings())
    assert not connection.is_open
    assert connection.run("true", timeout=5).ok
    assert connection.is_open
    connection.close()
    assert not connection.is_open
    assert connection.run("echo again", timeout=5).stdout == "again\n"
    connection.close()


def test_timeout_ends_the_remote_process_and_its_children(
    sshd_hosts: list[SshdHost], marker: str
) -> None:
    command = f"sleep {marker} & sh -c 'sleep {marker}' & sleep {marker}; wait"
    with ssh(sshd_hosts[0].settings()) as connection:
        result = connection.run(command, timeout=1)
        assert result.timed_out
        assert result.exit_code == 124
        assert 1 <= result.duration < 1 + KILL_AFTER
        assert no_process_left(marker), processes_with(marker)
        assert connection.run("echo still usable", timeout=5).ok


def test_a_remote_command_that_ignores_term_is_killed(
    sshd_hosts: list[SshdHost], marker: str
) -> None:
    with ssh(sshd_hosts[1].settings()) as connection:
        result = connection.run(f"trap '' TERM; sleep {marker}", timeout=0.5)
    assert result.timed_out
    assert result.exit_code in (137, None)  # KILL takes `timeout` itself down with the group
    assert 0.5 + KILL_AFTER <= result.duration < 0.5 + KILL_AFTER + LOCAL_GRACE
    assert no_process_left(marker), processes_with(marker)


def test_stopped_sshd_is_unreachable_quickly(sshd_hosts: list[SshdHost]) -> None:
    down, up = sshd_hosts[0], sshd_hosts[1]
    down.stop()
    started = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        open_connection(down.settings())
    assert time.monotonic() - started < 1
    assert type(caught.value) is UnreachableError  # not a host key or authentication problem
    message = str(caught.value)
    assert message.startswith(f"{down.name}: cannot connect to {down.address}:{down.port}: ")
    assert "connection refused" in message
    with ssh(up.settings()) as connection:  # the others are unaffected
        assert connection.run("echo $JARVIS_TEST_HOST", timeout=5).stdout == f"{up.name}\n"


def test_a_host_that_never_answers_times_out_at_connect_timeout() -> None:
    with socket.socket() as silent:  # accepts TCP (backlog) but never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address, port = silent.getsockname()
        settings = ConnectionSettings(
            host="silent", address=address, port=port, user="root", connect_timeout=0.5
        )
        started = time.monotonic()
        with pytest.raises(UnreachableError, match=f"cannot connect to {address}:{port}"):
            open_connection(settings)
        assert time.monotonic() - started < 3


def test_ssh_config_connect_timeout_applies_unless_the_inventory_sets_one() -> None:
    with socket.socket() as silent:  # accepts TCP (backlog) but never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address, port = silent.getsockname()
        write_user_ssh_config(f"Host {address}\n  ConnectTimeout 1\n")
        settings = ConnectionSettings(  # ssh_config wins over jarvisctl.yml's timeouts.connect
            host="silent", address=address, port=port, user="root", default_connect_timeout=30
        )
        started = time.monotonic()
        with pytest.raises(UnreachableError) as caught:
            open_connection(settings)
        assert 0.9 < time.monotonic() - started < 3
        assert "no SSH handshake within 1s (ConnectTimeout in ssh_config)" in str(caught.value)
        write_user_ssh_config(f"Host {address}\n  ConnectTimeout 30\n")
        started = time.monotonic()
        with pytest.raises(UnreachableError, match=r"within 0.5s \(connect_timeout\)"):
            open_connection(replace(settings, connect_timeout=0.5))  # the inventory wins
        assert time.monotonic() - started < 3


def test_ssh_config_server_alive_interval_sets_the_keepalive(
    sshd_hosts: list[SshdHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    import paramiko

    intervals: list[int] = []
    real = paramiko.Transport.set_keepalive

    def recording(self: paramiko.Transport, interval: int) -> None:
        intervals.append(interval)
        real(self, interval)

    monkeypatch.setattr(paramiko.Transport, "set_keepalive", recording)
    host = sshd_hosts[0]
    with ssh(host.settings()):
        pass
    write_user_ssh_config(f"Host {host.address}\n  ServerAliveInterval 2m\n")
    with ssh(host.settings()) as connection:
        assert connection.run("true", timeout=5).exit_code == 0
        assert connection._transport.sock.gettimeout() == ssh_module.IDLE_WAKEUP_SECONDS
    # the reader thread sends the keepalives when it wakes: a shorter interval wakes it as often
    write_user_ssh_config(f"Host {host.address}\n  ServerAliveInterval 7\n")
    with ssh(host.settings()) as connection:
        assert connection._transport.sock.gettimeout() == 7
    assert intervals == [ssh_module.KEEPALIVE_SECONDS, 120, 7]


def test_packets_go_under_aes_gcm_where_the_server_offers_it(sshd_hosts: list[SshdHost]) -> None:
    """AES-GCM before paramiko's own first choice (AES-CTR with an HMAC it checks in a Python
    loop on every packet); the other ciphers stay offered."""
    with ssh(sshd_hosts[0].settings()) as connection:
        transport = connection._transport
        assert (transport.local_cipher, transport.remote_cipher) == (
            "aes128-gcm@openssh.com",
            "aes128-gcm@openssh.com",
        )
        offered = transport.get_security_options().ciphers
        assert offered[:2] == AEAD_CIPHERS and "aes128-ctr" in offered
        assert connection.run("echo gcm", timeout=5).stdout == "gcm\n"


def test_a_closed_connection_ends_at_once_though_its_reader_waits_a_minute(
    sshd_hosts: list[SshdHost],
) -> None:
    """An idle connection's reader thread waits up to IDLE_WAKEUP_SECONDS (a minute) in recv;
    closing the connection wakes it and ends the TCP connection now, not when that wait ends
    (the kernel keeps a socket open while a recv on it goes on)."""
    assert ssh_module.IDLE_WAKEUP_SECONDS >= 30
    connection = ssh(sshd_hosts[0].settings())
    assert connection.run("true", timeout=5).exit_code == 0
    transport = connection._transport
    port = transport.sock.getsockname()[1]
    assert established(port)
    time.sleep(0.3)  # the reader is back in its recv
    connection.close()
    deadline = time.monotonic() + 2.0
    while (transport.is_alive() or established(port)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not transport.is_alive(), "the reader thread still waits"
    assert not established(port), "the TCP connection is still established"


def established(local_port: int) -> bool:
    """Whether a TCP connection from `local_port` is ESTABLISHED (/proc/net/tcp, state 01)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == local_port and fields[3] == "01":
            return True
    return False


@pytest.mark.parametrize("index", [0, 1], ids=["port-22", "high-port"])
def test_unknown_host_key_is_refused_with_how_to_trust_it(
    sshd_hosts: list[SshdHost], tmp_path: Path, index: int
) -> None:
    host = sshd_hosts[index]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    with pytest.raises(HostKeyError) as caught:
        open_connection(host.settings(known_hosts=str(known_hosts)))
    message = str(caught.value)
    assert "is not known" in message
    assert host.fingerprint in message
    assert f"ssh-keyscan -p {host.port} -t ed25519 {host.address} >> {known_hosts}" in message
    assert "host_key_policy: accept-new" in message
    assert known_hosts.read_text() == ""  # strict never writes
    follow_hint(caught.value)
    with ssh(host.settings(known_hosts=str(known_hosts))) as connection:
        assert connection.host_key_fingerprint == host.fingerprint


def test_accept_new_records_the_key_in_the_default_known_hosts(
    sshd_hosts: list[SshdHost], isolated_home: Path
) -> None:
    host = next(h for h in sshd_hosts if h.port != 22)
    settings = host.settings(known_hosts=None, host_key_policy="accept-new")
    with ssh(settings) as connection:
        assert connection.accepted_host_key == host.fingerprint
        assert connection.run("echo $JARVIS_TEST_HOST", timeout=5).stdout == f"{host.name}\n"
    known_hosts = isolated_home / ".ssh" / "known_hosts"
    assert stat.S_IMODE(known_hosts.stat().st_mode) == 0o600
    assert known_hosts.read_text() == f"{host.known_hosts_line}\n"
    with ssh(host.settings(known_hosts=None)) as strict:  # now trusted, nothing new accepted
        assert strict.accepted_host_key is None


def test_accept_new_hashes_the_name_when_ssh_config_says_so(
    sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    host = sshd_hosts[1]
    write_user_ssh_config("Host *\n  HashKnownHosts yes\n")
    known_hosts = tmp_path / "known_hosts"
    with ssh(host.settings(known_hosts=str(known_hosts), host_key_policy="accept-new")):
        pass
    listed = known_hosts.read_text()
    assert listed.startswith("|1|") and host.address not in listed
    assert listed.endswith(f" {host.public_key}\n")
    checked = subprocess.run(  # OpenSSH finds it by the name it hashed
        ["ssh-keygen", "-F", known_hosts_name(host.address, host.port), "-f", str(known_hosts)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    with ssh(host.settings(known_hosts=str(known_hosts))) as connection:  # strict: trusted
        assert connection.accepted_host_key is None


def test_changed_host_key_is_refused_even_under_accept_new(
    sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    host = sshd_hosts[1]
    old = host.fingerprint
    new = host.rotate_host_key()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(host.known_hosts.read_text())
    for policy in ("strict", "accept-new"):
        with pytest.raises(HostKeyError) as caught:
            open_connection(host.settings(known_hosts=str(known_hosts), host_key_policy=policy))
        message = str(caught.value)
        assert "has CHANGED, connection refused" in message
        assert f"has ED25519 key {old}" in message
        assert f"now presents ED25519 key {new}" in message
        assert f"ssh-keygen -R '[{host.address}]:{host.port}' -f {known_hosts}" in message
    assert known_hosts.read_text() == host.known_hosts.read_text()
    follow_hint(caught.value)
    with ssh(host.settings(known_hosts=str(known_hosts))) as connection:
        assert connection.host_key_fingerprint == new


def test_keys_listed_by_ssh_config_or_the_system_file_are_trusted(
    sshd_hosts: list[SshdHost], isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = sshd_hosts[0], sshd_hosts[1]
    (isolated_home / "fleet_hosts").write_text(f"{first.known_hosts_line}\n")
    write_user_ssh_config(f"Host {first.address}\n  UserKnownHostsFile ~/fleet_hosts\n")
    with ssh(first.settings(known_hosts=None)) as connection:  # none in the inventory
        assert connection.host_key_fingerprint == first.fingerprint

    system = isolated_home / "ssh_known_hosts"
    system.write_text(f"{second.known_hosts_line}\n")
    monkeypatch.setattr(hostkeys, "GLOBAL_KNOWN_HOSTS", (str(system),))
    with ssh(second.settings(known_hosts=None)) as connection:
        assert connection.host_key_fingerprint == second.fingerprint
    assert not (isolated_home / ".ssh" / "known_hosts").exists()

    second.rotate_host_key()  # the system file's key is now the wrong one: named as such
    with pytest.raises(HostKeyError) as caught:
        open_connection(second.settings(known_hosts=None, host_key_policy="accept-new"))
    assert f"has CHANGED, connection refused: {system} has ED25519" in str(caught.value)


def test_the_new_key_is_trusted_wherever_it_is_listed_beside_the_old_one(
    sshd_hosts: list[SshdHost], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = sshd_hosts[1]
    old_line, name = host.known_hosts_line, known_hosts_name(host.address, host.port)
    host.rotate_host_key()
    both = tmp_path / "both"  # mid-rotation: the old key first, then the new one
    both.write_text(f"{old_line}\n{name} {host.public_key}\n")
    with ssh(host.settings(known_hosts=str(both))) as connection:
        assert connection.host_key_fingerprint == host.fingerprint

    stale, system = tmp_path / "stale", tmp_path / "ssh_known_hosts"
    stale.write_text(f"{old_line}\n")  # the user's file is out of date, the system's is not
    system.write_text(f"{name} {host.public_key}\n")
    monkeypatch.setattr(hostkeys, "GLOBAL_KNOWN_HOSTS", (str(system),))
    with ssh(host.settings(known_hosts=str(stale))) as connection:
        assert connection.host_key_fingerprint == host.fingerprint
    assert stale.read_text() == f"{old_line}\n"


def test_a_revoked_host_key_is_refused_under_every_policy(
    sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    host = sshd_hosts[0]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{host.known_hosts_line}\n@revoked * {host.public_key}\n")
    for policy in ("strict", "accept-new"):
        with pytest.raises(HostKeyError) as caught:
            open_connection(host.settings(known_hosts=str(known_hosts), host_key_policy=policy))
        assert f"ED25519 key {host.fingerprint}, is marked @revoked at {known_hosts}:2" in str(
            caught.value
        )


def test_patterns_and_host_key_alias_name_hosts_as_openssh_does(
    sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    host = sshd_hosts[1]
    name = known_hosts_name(host.address, host.port)
    network = host.address.rsplit(".", 1)[0]
    pattern = f"[{network}.*]:{host.port}" if host.port != 22 else f"{network}.*"
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{pattern.upper()} {host.public_key}\n")
    with ssh(host.settings(known_hosts=str(known_hosts))) as connection:
        assert connection.host_key_fingerprint == host.fingerprint
    known_hosts.write_text(f"{pattern},!{name} {host.public_key}\n")  # every host but this one
    with pytest.raises(HostKeyError, match="is not known"):
        open_connection(host.settings(known_hosts=str(known_hosts)))

    # HostKeyAlias: the key is looked up, and recorded, under the alias (no address or port)
    write_user_ssh_config(f"Host {host.address}\n  HostKeyAlias Jetson-07\n")
    known_hosts.write_text("")
    with pytest.raises(HostKeyError) as caught:
        open_connection(host.settings(known_hosts=str(known_hosts)))
    assert "entry of that type for 'jetson-07'" in str(caught.value)
    follow_hint(caught.value)  # ssh-keyscan, renamed to the alias
    assert known_hosts.read_text() == f"jetson-07 {host.public_key}\n"
    with ssh(host.settings(known_hosts=str(known_hosts))) as connection:
        assert connection.host_key_fingerprint == host.fingerprint
    known_hosts.write_text("")
    with ssh(host.settings(known_hosts=str(known_hosts), host_key_policy="accept-new")):
        pass
    assert known_hosts.read_text() == f"jetson-07 {host.public_key}\n"


def test_a_host_is_asked_for_the_type_of_key_that_is_known(
    sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    host = sshd_hosts[1]
    ecdsa = host.add_ecdsa_host_key()  # the host has ED25519 (preferred) and ECDSA keys
    name = known_hosts_name(host.address, host.port)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{name} {ecdsa}\n")
    with ssh(host.settings(known_hosts=str(known_hosts))) as connection:
        assert connection.host_key_fingerprint == fingerprint_of(ecdsa)

    # A host known by one type of key that presents only another: refused under accept-new too
    # (a first-time host's key is what accept-new trusts, not a known host's new identity)
    host.restore_host_key()
    for policy in ("strict", "accept-new"):
        with pytest.raises(HostKeyError) as caught:
            open_connection(host.settings(known_hosts=str(known_hosts), host_key_policy=policy))
        message = str(caught.value)
        assert f"presents ED25519 key {host.fingerprint}" in message
        listed = f"ECDSA key {fingerprint_of(ecdsa)} at {known_hosts}:1"
        assert f"Only other types of key are listed for it ({listed})" in message
        assert "set `host_key_policy: accept-new`" not in message
    assert known_hosts.read_text() == f"{name} {ecdsa}\n"


def test_wrong_client_key_is_an_authentication_failure(
    sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    host = sshd_hosts[0]
    write_ed25519_key(tmp_path / "stranger", "not authorized anywhere")
    with pytest.raises(AuthenticationError) as caught:
        open_connection(host.settings(identity_file=str(tmp_path / "stranger")))
    message = str(caught.value)
    assert f"root@{host.address}:{host.port} refused our credentials" in message
    assert f"the key {tmp_path / 'stranger'} (and only that key)" in message
    with pytest.raises(AuthenticationError, match="cannot be read"):
        open_connection(host.settings(identity_file=str(tmp_path / "missing")))


def test_no_key_at_all_is_an_authentication_failure(sshd_hosts: list[SshdHost]) -> None:
    # HOME is an empty temporary directory and SSH_AUTH_SOCK is unset: nothing to offer.
    with pytest.raises(AuthenticationError, match="refused our credentials"):
        open_connection(sshd_hosts[0].settings(identity_file=None))


def test_identities_only_keeps_the_default_keys_out(
    sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost], isolated_home: Path
) -> None:
    host = sshd_hosts[0]
    default_key = isolated_home / ".ssh" / "id_ed25519"  # the one the hosts accept
    default_key.parent.mkdir()
    default_key.write_bytes(sshd_fleet.client_key.read_bytes())
    default_key.chmod(0o600)
    stranger = isolated_home / "stranger"
    write_ed25519_key(stranger, "not authorized anywhere")
    settings = host.settings(identity_file=None)
    write_user_ssh_config(f"Host {host.address}\n  IdentityFile {stranger}\n")
    with ssh(settings) as connection:  # the stranger is refused, then ~/.ssh/id_ed25519 works
        assert connection.run("true", timeout=5).exit_code == 0
    write_user_ssh_config(f"Host {host.address}\n  IdentityFile {stranger}\n  IdentitiesOnly yes\n")
    with pytest.raises(AuthenticationError) as caught:
        open_connection(settings)
    message = str(caught.value)
    assert f"refused our credentials (Authentication failed.); offered {stranger}.\n" in message
    assert f"ssh-copy-id -i {stranger}.pub -p {host.port}" in message


def test_losing_the_connection_mid_command_is_unreachable(sshd_hosts: list[SshdHost]) -> None:
    # The session's own sshd process is the parent of `timeout`, whose child is this shell.
    kill_session = "p=$(cut -d' ' -f4 /proc/$PPID/stat); grep -q sshd /proc/$p/comm && kill -9 $p"
    connection = ssh(sshd_hosts[0].settings())
    with pytest.raises(UnreachableError, match="lost the SSH connection"):
        connection.run(kill_session + "; sleep 5", timeout=10)
    assert not connection.is_open
    assert connection.run("echo back", timeout=5).stdout == "back\n"  # reopens
    connection.close()


def test_become_as_the_login_user_needs_no_sudo(sshd_hosts: list[SshdHost]) -> None:
    with ssh(sshd_hosts[0].settings(become=True)) as connection:
        assert connection.run("id -u", timeout=5).stdout == "0\n"


def test_local_and_ssh_agree(sshd_hosts: list[SshdHost]) -> None:
    commands = ["echo a; echo b >&2; exit 4", "printf 'x y'", "exit 124", "sleep 5"]
    local = open_connection(ConnectionSettings(host="l", address="l", connection="local"))
    with ssh(sshd_hosts[2].settings()) as remote:
        for command in commands:
            here, there = (c.run(command, timeout=0.5) for c in (local, remote))
            assert (here.exit_code, here.stdout, here.stderr, here.timed_out) == (
                there.exit_code,
                there.stdout,
                there.stderr,
                there.timed_out,
            ), command


def test_hosts_run_concurrently_on_their_own_connections(sshd_hosts: list[SshdHost]) -> None:
    outputs: dict[str, str] = {}

    def work(host: SshdHost) -> None:
        with ssh(host.settings()) as connection:
            outputs[host.name] = connection.run(
                "sleep 0.5; echo $JARVIS_TEST_HOST", timeout=5
            ).stdout

    threads = [threading.Thread(target=work, args=(host,)) for host in sshd_hosts]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 1.9  # one after the other would take 2 s and more
    assert outputs == {host.name: f"{host.name}\n" for host in sshd_hosts}


def test_fleet_inventory_reaches_every_host(
    sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost], tmp_path: Path
) -> None:
    from jarvisctl.config.inventory.loader import load_inventory

    inventory = load_inventory(sshd_fleet.write_inventory(tmp_path / "inventory.yml"))
    for host in sshd_hosts:
        settings = inventory.settings(host.name)
        assert settings == host.settings(known_hosts=str(sshd_fleet.known_hosts))
        with ssh(settings) as connection:
            assert connection.run("echo $JARVIS_TEST_HOST", timeout=5).stdout == f"{host.name}\n"


def test_closing_the_connection_ends_running_commands_on_the_host(
    sshd_hosts: list[SshdHost], marker: str
) -> None:
    connection = ssh(sshd_hosts[3].settings())
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            connection.run(f"sleep {marker} & sleep {marker}; wait", timeout=60)
        except UnreachableError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 5
    while len(sleeps_with(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sleeps_with(marker)) == 2
    connection.close()  # as an executor does on Ctrl-C or SIGTERM, from another thread
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert "closed by jarvisctl while running" in str(outcome[0])
    assert no_process_left(marker, within=1.0), processes_with(marker)


def test_the_session_uses_the_connection_started_early(
    sshd_hosts: list[SshdHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    host = sshd_hosts[1]
    looked_up: list[object] = []
    real_lookup = ssh_module.lookup

    def counted_lookup(*args: Any) -> Any:
        looked_up.append(args)
        return real_lookup(*args)

    monkeypatch.setattr(ssh_module, "lookup", counted_lookup)
    connection = SSHConnection(host.settings())
    connection.preconnect()
    real_connect = ssh_module.connect_tcp

    def connect_again(*args: object) -> None:
        raise AssertionError(f"connected again instead of using the early connection: {args}")

    monkeypatch.setattr(ssh_module, "connect_tcp", connect_again)
    with connection:
        assert connection.run("echo $JARVIS_TEST_HOST", timeout=5).stdout == f"{host.name}\n"
    monkeypatch.setattr(ssh_module, "connect_tcp", real_connect)
    # and with the route it looked up: the ssh_config files are read once per connection
    assert len(looked_up) == 1
    connection.open()  # closed by the block: opened again, the files are read again
    assert len(looked_up) == 2
    connection.close()


def test_an_early_connection_grown_old_is_replaced(
    sshd_hosts: list[SshdHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    host = sshd_hosts[0]
    connection = SSHConnection(host.settings())
    connection.preconnect()
    monkeypatch.setattr(EarlySocket, "fresh", property(lambda self: False))
    calls: list[tuple[object, ...]] = []
    real = ssh_module.connect_tcp

    def counted(*args: Any) -> socket.socket:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(ssh_module, "connect_tcp", counted)
    with connection:
        assert connection.run("echo $JARVIS_TEST_HOST", timeout=5).stdout == f"{host.name}\n"
    assert calls == [(host.address, host.port, host.settings().connect_timeout)]


def test_an_early_connection_refused_is_reported_as_unreachable() -> None:
    with socket.socket() as closed:  # bound but not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        settings = ConnectionSettings(host="closed", address="127.0.0.1", port=port, user="root")
        connection = SSHConnection(settings)
        connection.preconnect()
        with pytest.raises(UnreachableError, match=f"closed: cannot connect to 127.0.0.1:{port}"):
            connection.open()


def test_a_host_name_is_not_connected_early_and_close_drops_an_early_connection(
    sshd_hosts: list[SshdHost],
) -> None:
    named = SSHConnection(ConnectionSettings(host="n", address="localhost", port=1))
    named.preconnect()  # a name lookup could block the caller: left to `open`
    assert named._early is None
    early = SSHConnection(sshd_hosts[0].settings())
    early.preconnect()
    assert early._early is not None
    early.close()
    assert early._early is None and not early.is_open


def test_a_host_behind_a_jump_host_is_never_contacted_directly(
    sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    jump, target = sshd_hosts[0], sshd_hosts[1]
    bastion = f"-J root@{jump.address}:{jump.port} -o IdentitiesOnly=yes"
    settings = target.settings(
        known_hosts=str(sshd_fleet.known_hosts), ssh_options=ssh_options(bastion)
    )
    connection = SSHConnection(settings)
    connection.preconnect()
    assert connection._early is None and remote_ends(target) == set()
    write_user_ssh_config(f"Host {target.address}\n  ProxyCommand /bin/false\n")
    behind = SSHConnection(target.settings())
    behind.preconnect()
    assert behind._early is None and remote_ends(target) == set()
    write_user_ssh_config(f"Host {jump.address}\n  IdentityFile {sshd_fleet.client_key}\n")
    with connection:  # the inventory's -J: through the jump host
        assert connection.run("echo $JARVIS_TEST_HOST", timeout=5).stdout == f"{target.name}\n"
        assert remote_ends(target) == set()


def write_user_ssh_config(text: str) -> None:
    """~/.ssh/config of the test's isolated HOME."""
    path = Path(os.path.expanduser("~/.ssh/config"))
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)


def remote_ends(host: SshdHost) -> set[tuple[str, int]]:
    """Where this process has TCP connections to, among the host's address and port."""
    return {
        (c.raddr.ip, c.raddr.port)
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and (c.raddr.ip, c.raddr.port) == (host.address, host.port)
    }


def test_an_ssh_config_alias_from_an_included_file_reaches_its_host(
    sshd_hosts: list[SshdHost],
) -> None:
    host = sshd_hosts[1]
    assert host.port != 22  # so that the Port line is what reaches it
    write_user_ssh_config("Include conf.d/*.conf\nHost *\n  User nobody\n")
    included = Path(os.path.expanduser("~/.ssh/conf.d/web.conf"))
    included.parent.mkdir()
    included.write_text(
        f"Host web-alias\n  HostName {host.address}\n  User root\n  Port {host.port}\n"
    )
    settings = host.settings(address="web-alias", user=None, port=None)  # none in the inventory
    with ssh(settings) as connection:
        assert connection.run("echo $JARVIS_TEST_HOST", timeout=5).stdout == f"{host.name}\n"
        assert connection.host_key_fingerprint == host.fingerprint


def test_a_proxy_jump_host_carries_the_session(
    sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    jump, target = sshd_hosts[0], sshd_hosts[1]
    write_user_ssh_config(
        f"Host target\n  HostName {target.address}\n  ProxyJump root@bastion:{jump.port}\n"
        f"Host bastion\n  HostName {jump.address}\n  IdentityFile {sshd_fleet.client_key}\n"
    )
    settings = target.settings(address="target", known_hosts=str(sshd_fleet.known_hosts))
    connection = ssh(settings)
    try:
        result = connection.run("echo $JARVIS_TEST_HOST", timeout=5)
        assert (result.exit_code, result.stdout) == (0, f"{target.name}\n")
        assert connection.host_key_fingerprint == target.fingerprint
        # the controller talks to the jump host only; the jump host talks to the target
        assert remote_ends(jump) == {(jump.address, jump.port)}
        assert remote_ends(target) == set()
    finally:
        connection.close()
    assert remote_ends(jump) == set()  # closing the host closed its jump host too


def test_a_proxy_jump_host_with_an_unknown_key_is_refused(
    sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    jump, target = sshd_hosts[0], sshd_hosts[1]
    write_user_ssh_config(
        f"Host target\n  HostName {target.address}\n  ProxyJump {jump.address}:{jump.port}\n"
        f"Host {jump.address}\n  User root\n  IdentityFile {sshd_fleet.client_key}\n"
    )
    settings = target.settings(address="target")  # its known_hosts lists the target only
    with pytest.raises(HostKeyError) as refused:
        ssh(settings)
    first_line = str(refused.value).splitlines()[0]
    assert f"the host key of {jump.address}:{jump.port} is not known" in first_line
    assert first_line.endswith(f"(ProxyJump host {jump.address}:{jump.port})")
    assert remote_ends(jump) == set()


def test_a_proxy_command_carries_the_session(
    sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    jump, target = sshd_hosts[0], sshd_hosts[1]
    openssh = (
        f"ssh -i {sshd_fleet.client_key} -o IdentitiesOnly=yes -o BatchMode=yes "
        f"-o UserKnownHostsFile={sshd_fleet.known_hosts} -o StrictHostKeyChecking=yes "
        f"-p {jump.port} -W %h:%p root@{jump.address}"
    )
    write_user_ssh_config(f"Host target\n  HostName {target.address}\n  ProxyCommand {openssh}\n")
    with ssh(target.settings(address="target")) as connection:
        assert connection.run("echo $JARVIS_TEST_HOST", timeout=5).stdout == f"{target.name}\n"
        assert remote_ends(target) == set()  # the ssh process talks to the jump host


def test_a_proxy_command_that_cannot_start_is_unreachable(sshd_hosts: list[SshdHost]) -> None:
    write_user_ssh_config("Host target\n  ProxyCommand /nonexistent/proxy %h %p\n")
    with pytest.raises(UnreachableError, match=r"the ProxyCommand of target .* cannot start"):
        ssh(sshd_hosts[0].settings(address="target"))
