"""The step kinds' shell actions run for real over SSH on sshd test hosts (root logins on this
machine): probe → apply → verify as the engine runs them, and the host's files afterwards.
No engine here (engine/steps.py runs steps); this proves what each kind's commands do."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.connection import open_connection
from jarvisctl.connection.base import CommandResult, Connection
from jarvisctl.kinds.registry import load_registry
from jarvisctl.kinds.step_base import PROBE_CHANGE, PROBE_OK, PollAction, ShellAction
from tests.e2e.sshd import SshdFleet, SshdHost
from tests.host_tools import tools_hidden

pytestmark = pytest.mark.e2e

STEPS = load_registry().steps
ODD = "app 'conf' \"x\" $(touch M) `touch M`; touch M"


class Files:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read(self, src: str, *, template: bool) -> bytes:
        return self.files[src]

    @property
    def directory(self) -> str:
        return "/nonexistent"


def action(kind: str, value: dict[str, Any], files: dict[str, bytes] | None = None) -> Any:
    kind_ = STEPS[kind]
    return kind_.action(kind_.params_model.model_validate(value), Files(files or {}))


@pytest.fixture
def connection(sshd_hosts: list[SshdHost]) -> Iterator[Connection]:
    with open_connection(sshd_hosts[0].settings()) as opened:
        yield opened


@pytest.fixture
def bare_connection(bare_sshd_fleet: SshdFleet) -> Iterator[Connection]:
    """A host whose PATH holds only what every Debian has (no nc, curl, wget, openssl)."""
    with open_connection(bare_sshd_fleet.hosts[0].settings()) as opened:
        yield opened


def probe(connection: Connection, made: ShellAction) -> CommandResult:
    assert made.probe is not None
    return connection.run(made.probe, timeout=60)


def apply(connection: Connection, made: ShellAction) -> list[CommandResult]:
    done = []
    for command in made.apply:
        result = connection.run(command.command, timeout=60, stdin=command.stdin)
        done.append(result)
        if not result.ok:
            break
    return done


def cycle(connection: Connection, made: ShellAction) -> tuple[int | None, int | None]:
    """As the engine runs a shell action: probe; when it says change, apply then verify.
    (probe's exit, verify's exit or None when nothing was applied)."""
    before = probe(connection, made)
    if before.exit_code != PROBE_CHANGE:
        return before.exit_code, None
    for result in apply(connection, made):
        assert result.ok, result.describe()
    assert made.verify is not None
    return before.exit_code, connection.run(made.verify, timeout=60).exit_code


# --- run --------------------------------------------------------------------------------------


def test_run_runs_in_its_directory_with_its_environment(
    connection: Connection, tmp_path: Path
) -> None:
    where = tmp_path / ODD
    where.mkdir()
    value = 'it\'s $(touch M) `touch M` "q"\nline two \\'
    made = action(
        "run",
        {
            "command": 'printf "%s" "$VALUE" > out; echo "$JARVIS_TEST_HOST"',
            "chdir": str(where),
            "env": {"VALUE": value},
        },
    )
    [result] = apply(connection, made)
    assert result.ok, result.describe()
    assert result.stdout == "host1\n"  # it ran on the test host
    assert (where / "out").read_text() == value
    assert not (where / "M").exists() and not (tmp_path / "M").exists()


def test_run_fails_with_its_commands_status(connection: Connection, tmp_path: Path) -> None:
    made = action("run", {"command": "echo half; exit 7"})
    [result] = apply(connection, made)
    assert result.exit_code == 7 and result.stdout == "half\n"


# --- copy -------------------------------------------------------------------------------------


def test_copy_cycle_writes_then_finds_nothing_to_do(connection: Connection, tmp_path: Path) -> None:
    dest = tmp_path / ODD
    content = b"PORT=8080\n\x00\xff binary too\n"
    made = action(
        "copy",
        {"src": "files/app.env", "dest": str(dest), "mode": "0640"},
        {"files/app.env": content},
    )
    assert cycle(connection, made) == (PROBE_CHANGE, PROBE_OK)
    assert dest.read_bytes() == content
    assert dest.stat().st_mode & 0o7777 == 0o640 and dest.stat().st_uid == 0
    assert cycle(connection, made) == (PROBE_OK, None)  # unchanged content: ok, not changed
    assert sorted(p.name for p in tmp_path.iterdir()) == [ODD]
    assert not (tmp_path / "M").exists()


def test_copy_replaces_the_file_atomically_with_its_owner(
    connection: Connection, tmp_path: Path
) -> None:
    tmp_path.chmod(0o755)
    dest = tmp_path / "app.conf"
    dest.write_bytes(b"old\n")
    old_inode = dest.stat().st_ino
    reader = dest.open("rb")  # what a reader had open keeps the old file, whole
    made = action(
        "copy", {"content": "new\n", "dest": str(dest), "owner": "nobody:nogroup", "mode": 0o600}
    )
    assert cycle(connection, made) == (PROBE_CHANGE, PROBE_OK)
    stat = dest.stat()
    assert stat.st_ino != old_inode and dest.read_bytes() == b"new\n"
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) == (65534, 65534, 0o600)
    assert reader.read() == b"old\n"
    reader.close()
    # another owner (by name, then by id) is a change; the same one is not
    as_daemon = action("copy", {"content": "new\n", "dest": str(dest), "owner": "daemon"})
    assert cycle(connection, as_daemon) == (PROBE_CHANGE, PROBE_OK)
    assert (dest.stat().st_uid, dest.stat().st_gid) == (1, 65534)  # the group kept
    by_id = action("copy", {"content": "new\n", "dest": str(dest), "owner": "1:65534"})
    assert cycle(connection, by_id) == (PROBE_OK, None)
    # without owner and mode, a replaced file keeps the ones it had
    plain = action("copy", {"content": "newer\n", "dest": str(dest)})
    assert cycle(connection, plain) == (PROBE_CHANGE, PROBE_OK)
    stat = dest.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) == (1, 65534, 0o600)


def test_copy_a_new_file_gets_0644_and_the_login_as_owner(
    connection: Connection, tmp_path: Path
) -> None:
    dest = tmp_path / "new.conf"
    made = action("copy", {"content": "x\n", "dest": str(dest)})
    assert cycle(connection, made) == (PROBE_CHANGE, PROBE_OK)
    assert dest.stat().st_mode & 0o7777 == 0o644 and dest.stat().st_uid == 0


def test_copy_to_an_unknown_owner_fails_and_leaves_nothing(
    connection: Connection, tmp_path: Path
) -> None:
    dest = tmp_path / "f"
    dest.write_bytes(b"old\n")
    made = action("copy", {"content": "new\n", "dest": str(dest), "owner": "no_such_user_x"})
    assert probe(connection, made).exit_code == PROBE_CHANGE
    [result] = apply(connection, made)
    assert result.exit_code == 1 and "no_such_user_x" in result.stderr
    assert dest.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # the temporary file removed


def test_copy_content_is_never_on_the_hosts_command_line(
    connection: Connection, tmp_path: Path
) -> None:
    """The apply command line as the host's process list shows it holds no byte of content."""
    secret = "s3cr3t-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:12]
    made = action("copy", {"content": secret, "dest": str(tmp_path / "key")})
    [command] = made.apply
    assert secret not in command.command and secret.encode() == command.stdin
    listing = tmp_path / "ps"
    spy = command.command.replace('cat > "$t"', f'cat /proc/$$/cmdline > {listing}; cat > "$t"')
    result = connection.run(spy, timeout=60, stdin=command.stdin)
    assert result.ok, result.describe()
    assert secret.encode() not in listing.read_bytes() and b"mktemp" in listing.read_bytes()
    assert (tmp_path / "key").read_text() == secret


def test_copy_on_a_host_with_only_the_essential_commands(
    bare_connection: Connection, tmp_path: Path
) -> None:
    dest = tmp_path / "bare.conf"
    made = action("copy", {"content": "x\n", "dest": str(dest), "mode": "0600", "backup": True})
    assert cycle(bare_connection, made) == (PROBE_CHANGE, PROBE_OK)
    assert cycle(bare_connection, made) == (PROBE_OK, None)


# --- wait_for ---------------------------------------------------------------------------------


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response({"/ok": 200, "/moved": 302}.get(self.path, 503))
        self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def poll_once(connection: Connection, made: PollAction) -> int | None:
    return connection.run(made.probe, timeout=60).exit_code


@pytest.mark.parametrize("bare", [False, True], ids=["this machine's PATH", "a bare PATH"])
def test_wait_for_a_port_and_a_url_on_the_host(
    request: pytest.FixtureRequest, bare: bool, web: int
) -> None:
    fixture = "bare_connection" if bare else "connection"
    connection: Connection = request.getfixturevalue(fixture)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        free = closed.getsockname()[1]
    port = {"port": web, "host": "127.0.0.1"}
    assert poll_once(connection, action("wait_for", port)) == 0
    assert poll_once(connection, action("wait_for", {**port, "state": "stopped"})) == 1
    assert poll_once(connection, action("wait_for", {"port": free})) == 1
    assert poll_once(connection, action("wait_for", {"port": free, "state": "stopped"})) == 0
    url = f"http://127.0.0.1:{web}"
    if bare or tools_hidden():  # neither curl nor wget: said, never taken as an answer
        result = connection.run(action("wait_for", {"url": url + "/ok"}).probe, timeout=60)
        assert result.exit_code == 2 and "neither curl nor wget" in result.stderr
        return
    assert poll_once(connection, action("wait_for", {"url": url + "/ok"})) == 0
    assert poll_once(connection, action("wait_for", {"url": url + "/moved"})) == 0
    assert poll_once(connection, action("wait_for", {"url": url + "/down"})) != 0
    assert poll_once(connection, action("wait_for", {"url": f"http://127.0.0.1:{free}/"})) != 0


def test_wait_for_a_url_with_wget_when_there_is_no_curl(
    connection: Connection, tmp_path: Path, web: int
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("wget", "timeout"):
        (tools / name).symlink_to(f"/usr/bin/{name}")
    made = action("wait_for", {"url": f"http://127.0.0.1:{web}/ok"})
    with_wget = f"PATH={tools}; {made.probe}"
    assert connection.run(with_wget, timeout=60).exit_code == 0
    down = action("wait_for", {"url": f"http://127.0.0.1:{web}/down"})
    assert connection.run(f"PATH={tools}; {down.probe}", timeout=60).exit_code != 0
    assert os.path.exists("/usr/bin/wget")


def test_wait_for_a_path(connection: Connection, tmp_path: Path) -> None:
    path = tmp_path / ODD
    made = action("wait_for", {"path": str(path)})
    assert poll_once(connection, made) == 1
    path.write_text("")
    assert poll_once(connection, made) == 0
    assert not (tmp_path / "M").exists()
