"""Pure parts of the connection layer: command wrapping, host-key naming, error texts, the fake."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

import paramiko
import pytest
from paramiko.ssh_exception import NoValidConnectionsError

from jarvisctl.connection import CommandResult, Connection, ConnectionSettings
from jarvisctl.connection.base import was_timed_out
from jarvisctl.connection.hostkeys import (
    HostKeyPolicy,
    KnownKeys,
    append_known_host,
    fingerprint,
    known_hosts_name,
)
from jarvisctl.connection.shell import (
    become_prefix,
    end_script_command,
    end_tagged_command,
    wrap_remote_command,
)
from jarvisctl.connection.ssh_errors import Attempt, load_identity, open_error
from jarvisctl.core.durations import format_seconds
from jarvisctl.core.errors import AuthenticationError, HostKeyError, UnreachableError
from tests.fakes import FakeConnection

SETTINGS = ConnectionSettings(host="web1", address="10.0.0.5", port=2222, user="deploy")


def test_remote_command_is_wrapped_in_timeout_and_sh() -> None:
    wrapped = wrap_remote_command(
        "echo 'it''s' | wc -c", timeout=30, become=False, become_user=None, login_user="deploy"
    )
    assert wrapped == "timeout -s TERM -k 2 30 sh -c 'echo '\"'\"'it'\"'\"''\"'\"'s'\"'\"' | wc -c'"
    # What sh -c receives is exactly the command, whatever it quotes.
    argv = subprocess.run(
        ["sh", "-c", wrapped.replace("timeout -s TERM -k 2 30 sh -c", "printf %s")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert argv == "echo 'it''s' | wc -c"


@pytest.mark.parametrize("with_pgrep", [True, False], ids=["pgrep", "proc-walk"])
def test_a_tagged_command_and_its_nested_timeouts_can_be_ended(
    with_pgrep: bool, tmp_path: Path
) -> None:
    inner = "timeout 60 sh -c 'sleep 30 & sleep 30; wait'"  # its own process group
    wrapped = wrap_remote_command(
        inner, timeout=60, become=False, become_user=None, login_user=None, tag="0123abcd"
    )
    assert wrapped.startswith("timeout -s TERM -k 2 60 sh -c ': jarvisctl-run:0123abcd; timeout")
    # Like sshd, give the command a session of its own (the killer ends that whole session).
    target = subprocess.Popen(["sh", "-c", wrapped], start_new_session=True)
    path = os.environ["PATH"]
    if not with_pgrep:  # a host without procps: only sh builtins and grep
        (tmp_path / "grep").symlink_to(shutil.which("grep") or "/usr/bin/grep")
        path = str(tmp_path)
    deadline = time.monotonic() + 5
    while len(_session_members(target.pid)) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    members = _session_members(target.pid)
    assert len(members) >= 5  # sh, timeout, sh, timeout, sh, sleep, sleep (sh may exec)
    ended = subprocess.run(
        ["/bin/sh", "-c", end_tagged_command("0123abcd")],
        env={"PATH": path},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert ended.returncode == 0, ended.stderr  # and the killer did not end itself
    assert target.wait(timeout=5) != 0
    deadline = time.monotonic() + 3
    while _session_members(target.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _session_members(target.pid) == []


@pytest.mark.parametrize("with_pgrep", [True, False], ids=["pgrep", "proc-walk"])
def test_what_is_left_of_a_script_is_killed_with_what_it_started(
    with_pgrep: bool, tmp_path: Path
) -> None:
    """A check script's shell that TERM did not end (its command ignores TERM), and a process
    its command started in a session of its own, carrying the script's marker: KILLed."""
    marker, tag = "0123abcd" * 3, "4567cdef"
    script = "trap '' TERM; setsid sleep 81.5 & sleep 82.5; echo never"
    target = subprocess.Popen(
        ["sh", "-c", script, f"jarvisctl-run:{tag}"],
        start_new_session=True,
        env={**os.environ, "JARVIS_RUN_TOKEN": marker},
    )
    path = os.environ["PATH"]
    if not with_pgrep:  # a host without procps: only sh builtins and grep
        (tmp_path / "grep").symlink_to(shutil.which("grep") or "/usr/bin/grep")
        path = str(tmp_path)
    deadline = time.monotonic() + 5
    while len(_marked(marker)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(_marked(marker)) == 3  # sh, and the two sleeps (one in a session of its own)
    ended = subprocess.run(
        ["/bin/sh", "-c", end_script_command(tag, marker)],
        env={"PATH": path},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert ended.returncode == 0, ended.stderr
    assert target.wait(timeout=5) == -9
    deadline = time.monotonic() + 3
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _marked(marker) == []


def _marked(marker: str) -> list[int]:
    wanted = f"JARVIS_RUN_TOKEN={marker}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if wanted in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def _session_members(sid: int) -> list[int]:
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(stat_file.parent.name))
    return members


def test_tags_are_hex_only() -> None:
    with pytest.raises(ValueError, match="lowercase hex"):
        end_tagged_command("x'; rm -rf /")


def test_become_runs_timeout_under_sudo_never_prompting() -> None:
    wrapped = wrap_remote_command(
        "id", timeout=1.5, become=True, become_user="post gres", login_user="deploy"
    )
    assert wrapped == "sudo -n -u 'post gres' -- timeout -s TERM -k 2 1.5 sh -c id"


@pytest.mark.parametrize(
    ("become", "become_user", "login_user", "prefix"),
    [
        (False, "root", "deploy", ""),
        (True, None, "deploy", "sudo -n -- "),
        (True, None, "root", ""),  # already root: no sudo needed (or installed)
        (True, "app", "app", ""),
        (True, "app", "root", "sudo -n -u app -- "),
        (True, None, None, "sudo -n -- "),
    ],
)
def test_become_prefix(
    become: bool, become_user: str | None, login_user: str | None, prefix: str
) -> None:
    assert become_prefix(become, become_user, login_user) == prefix


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30"), (1.5, "1.5"), (0.25, "0.25"), (1e-5, "0.001"), (90.0, "90")]
)
def test_format_seconds_never_uses_exponents(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("exit_code", "duration", "timed_out"),
    [(124, 5.01, True), (137, 7.0, True), (None, 7.0, True), (124, 0.2, False), (0, 9.0, False)],
)
def test_timeout_is_recognised_only_when_the_command_ran_that_long(
    exit_code: int | None, duration: float, timed_out: bool
) -> None:
    assert was_timed_out(exit_code, duration, timeout=5) is timed_out


def test_known_hosts_names_follow_openssh() -> None:
    assert known_hosts_name("10.0.0.5", 22) == "10.0.0.5"
    assert known_hosts_name("10.0.0.5", 2222) == "[10.0.0.5]:2222"


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")
def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    key = paramiko.Ed25519Key.from_private_key_file(str(_generate_key(tmp_path / "k")))
    printed = subprocess.run(
        ["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert fingerprint(key) == printed


def test_append_known_host_creates_private_file_and_paramiko_reads_it(tmp_path: Path) -> None:
    key = paramiko.Ed25519Key.from_private_key_file(str(_generate_key(tmp_path / "k")))
    path = tmp_path / "new" / ".ssh" / "known_hosts"
    append_known_host(path, "[10.0.0.5]:2222", key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.write_text(path.read_text() + "other ssh-ed25519 AAAA")  # no final newline
    append_known_host(path, "10.0.0.6", key)
    keys = paramiko.HostKeys(str(path))
    assert keys.lookup("[10.0.0.5]:2222")["ssh-ed25519"] == key
    assert keys.lookup("10.0.0.6")["ssh-ed25519"] == key


def test_strict_policy_refuses_an_unknown_key_and_says_how_to_trust_it(tmp_path: Path) -> None:
    key = paramiko.Ed25519Key.from_private_key_file(str(_generate_key(tmp_path / "k")))
    known_hosts = tmp_path / "known_hosts"
    nothing = KnownKeys("[10.0.0.5]:2222", ())
    policy = HostKeyPolicy(SETTINGS, "10.0.0.5", 2222, (known_hosts,), nothing)
    with pytest.raises(HostKeyError) as caught:
        policy.missing_host_key(None, "[10.0.0.5]:2222", key)
    message = str(caught.value)
    assert message.startswith("web1: the host key of 10.0.0.5:2222 is not known")
    assert fingerprint(key) in message
    assert f"ssh-keyscan -p 2222 -t ed25519 10.0.0.5 >> {known_hosts}" in message
    assert "host_key_policy: accept-new" in message
    assert not known_hosts.exists()


def test_accept_new_policy_records_the_key(tmp_path: Path) -> None:
    key = paramiko.Ed25519Key.from_private_key_file(str(_generate_key(tmp_path / "k")))
    known_hosts = tmp_path / "known_hosts"
    settings = ConnectionSettings(host="web1", address="10.0.0.5", host_key_policy="accept-new")
    files = (known_hosts, tmp_path / "global")
    policy = HostKeyPolicy(settings, "10.0.0.5", 22, files, KnownKeys("10.0.0.5", ()))
    policy.missing_host_key(None, "10.0.0.5", key)
    assert policy.accepted == fingerprint(key)
    assert known_hosts.read_text() == f"10.0.0.5 ssh-ed25519 {key.get_base64()}\n"


def _banner_error(cause: BaseException) -> paramiko.SSHException:
    """What paramiko raises when the banner cannot be read: its cause as the context."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise paramiko.SSHException("Error reading SSH protocol banner" + str(exc)) from None
    except paramiko.SSHException as error:
        return error


def test_connection_errors_name_the_address_and_the_reason() -> None:
    refused = NoValidConnectionsError(
        {("10.0.0.5", 2222): OSError(errno.ECONNREFUSED, "Connection refused")}
    )
    cases: list[tuple[BaseException, str]] = [
        (refused, "connection refused (is sshd running"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection refused"),
        (TimeoutError("timed out"), "no answer within 10s (connect_timeout)"),
        (socket.gaierror(-2, "Name or service not known"), "cannot resolve the address"),
        (paramiko.SSHException("Incompatible ssh server"), "SSH handshake failed"),
        (EOFError(), "closed the connection during the SSH handshake"),
        (paramiko.SSHException("No existing session"), "no SSH handshake within 10s"),
        (_banner_error(TimeoutError()), "no SSH handshake within 10s (connect_timeout)"),
        (_banner_error(EOFError()), "closed the connection during the SSH handshake"),
        # a host that closes with our banner unread resets the connection instead (timing)
        (
            _banner_error(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")),
            "connection reset by the host during the SSH handshake",
        ),
    ]
    for exc, reason in cases:
        error = open_error(exc, SETTINGS, Attempt("10.0.0.5", 2222, "deploy"))
        assert type(error) is UnreachableError, exc
        assert str(error).startswith("web1: cannot connect to 10.0.0.5:2222: "), str(error)
        assert reason in str(error)


def test_authentication_errors_say_which_key_was_offered() -> None:
    settings = ConnectionSettings(host="web1", address="h", identity_file="/keys/id")
    error = open_error(
        paramiko.AuthenticationException("Authentication failed."),
        settings,
        Attempt("h", 22, "ops"),
    )
    assert isinstance(error, AuthenticationError)
    assert "ops@h:22 refused our credentials" in str(error)
    assert "the key /keys/id (and only that key)" in str(error)
    assert "ssh-copy-id -i /keys/id.pub -p 22 ops@h" in str(error)


def test_the_key_to_install_is_one_that_was_offered(isolated_home: Path) -> None:
    refused = paramiko.AuthenticationException("Authentication failed.")
    from_config = open_error(
        refused, SETTINGS, Attempt("h", 22, "ops", offered="/k/fleet", public_key="/k/fleet.pub")
    )
    assert "offered /k/fleet.\n" in str(from_config)
    assert "ssh-copy-id -i /k/fleet.pub -p 22 ops@h" in str(from_config)
    assert "ssh-copy-id -i '~/.ssh/id_ed25519.pub'" in str(
        open_error(refused, SETTINGS, Attempt("h", 22, "ops"))
    )
    (isolated_home / ".ssh").mkdir()
    (isolated_home / ".ssh" / "id_rsa.pub").write_text("ssh-rsa AAAA\n")  # the only key there
    assert "ssh-copy-id -i '~/.ssh/id_rsa.pub'" in str(
        open_error(refused, SETTINGS, Attempt("h", 22, "ops"))
    )


def test_unusable_identity_files_are_authentication_errors(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    encrypted = tmp_path / "encrypted"
    encrypted.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key\n")
    cases = {
        encrypted: "is protected by a passphrase",
        garbage: "is not a private key paramiko can load",
        tmp_path / "missing": "cannot be read (No such file or directory)",
    }
    for path, problem in cases.items():
        settings = ConnectionSettings(host="web1", address="h", identity_file=str(path))
        with pytest.raises(AuthenticationError) as caught:
            load_identity(settings)
        assert str(caught.value).startswith(f"web1: identity file {path} {problem}")
    good = _generate_key(tmp_path / "good")
    key = load_identity(ConnectionSettings(host="web1", address="h", identity_file=str(good)))
    assert key.get_name() == "ssh-ed25519"


def test_unrelated_exceptions_are_not_disguised_as_unreachable() -> None:
    interrupt = KeyboardInterrupt()
    assert open_error(interrupt, SETTINGS, Attempt("h", 22, "u")) is interrupt


def test_fake_connection_follows_its_script_and_fails_on_anything_else() -> None:
    fake = FakeConnection.for_host("web1")
    fake.expect("df -P /", stdout="ok\n").expect("systemctl is-active x", exit_code=3)
    fake.expect("systemctl is-active x", exit_code=0)
    fake.expect(re.compile(r"^sh -s"), stdout="batched")
    assert isinstance(fake, Connection)
    assert fake.run("df -P /", timeout=5).stdout == "ok\n"
    codes = [fake.run("systemctl is-active x", timeout=5).exit_code for _ in range(3)]
    assert codes == [3, 0, 0]
    assert fake.run("sh -s --", timeout=5, stdin="x").stdout == "batched"
    assert fake.calls[-1].stdin == "x"
    fake.assert_all_used()
    with pytest.raises(pytest.fail.Exception, match="unexpected command 'rm -rf /'"):
        fake.run("rm -rf /", timeout=5)


def test_fake_connection_can_be_unreachable() -> None:
    fake = FakeConnection.for_host("db1", open_error=UnreachableError("db1: cannot connect"))
    with pytest.raises(UnreachableError):
        fake.run("true", timeout=5)
    assert fake.calls == []


def test_command_result_is_frozen() -> None:
    result = CommandResult("true", 0, "", "", 0.1, False)
    with pytest.raises(AttributeError):
        result.exit_code = 1  # type: ignore[misc]


def _generate_key(path: Path) -> Path:
    from tests.e2e.sshd import write_ed25519_key

    write_ed25519_key(path, "unit-test")
    return path


def test_an_unreadable_known_hosts_file_is_a_host_key_error(tmp_path: Path) -> None:
    from jarvisctl.connection.ssh import SSHConnection

    settings = ConnectionSettings(host="web1", address="127.0.0.1", known_hosts=str(tmp_path))
    with pytest.raises(HostKeyError, match=f"web1: cannot read known_hosts file {tmp_path}: "):
        SSHConnection(settings).open()  # fails before any connection attempt


def test_a_script_on_stdin_needs_no_extra_shell_nor_timeout() -> None:
    from jarvisctl.connection.shell import SCRIPT_ON_STDIN

    wrapped = wrap_remote_command(
        SCRIPT_ON_STDIN, timeout=30, become=False, become_user=None, login_user="root", tag="ab12"
    )
    assert wrapped == "sh -s jarvisctl-run:ab12"  # its commands have their own `timeout`
    become = wrap_remote_command(
        SCRIPT_ON_STDIN, timeout=30, become=True, become_user=None, login_user="deploy", tag="ab"
    )
    assert become == "sudo -n -- sh -s jarvisctl-run:ab"
    with pytest.raises(ValueError, match="positive"):
        wrap_remote_command(
            SCRIPT_ON_STDIN, timeout=0, become=False, become_user=None, login_user="root"
        )


def test_a_check_script_shell_starts_with_its_marker_in_its_environment() -> None:
    """The marker in the shell's exec-time environment, so that its subshells and its
    children between fork and exec carry it too (connection/shell.py marker_assignment): by
    an assignment the login shell makes, or by `env` under sudo (which runs no shell)."""
    from jarvisctl.connection.shell import SCRIPT_ON_STDIN

    common = {"timeout": 30, "become_user": None, "tag": "ab"}
    wrapped = wrap_remote_command(
        SCRIPT_ON_STDIN, become=False, login_user="root", marker="c0ffee", **common
    )
    assert wrapped == "JARVIS_RUN_TOKEN=c0ffee sh -s jarvisctl-run:ab"
    become = wrap_remote_command(
        SCRIPT_ON_STDIN, become=True, login_user="deploy", marker="c0ffee", **common
    )
    assert become == "sudo -n -- env JARVIS_RUN_TOKEN=c0ffee sh -s jarvisctl-run:ab"
    with pytest.raises(ValueError, match="lowercase hex"):
        wrap_remote_command(
            SCRIPT_ON_STDIN, become=False, login_user="root", marker="x; reboot", **common
        )
