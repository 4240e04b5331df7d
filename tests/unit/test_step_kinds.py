"""The built-in step kinds `run`, `copy`, `wait_for`, `reboot`, `restore` and `fabric`: their
parameters (good and bad values, with what the error says), the actions they give, and their
shell text run for real by dash and by busybox sh with only busybox's applets."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from jarvisctl.kinds.registry import BUILTIN_STEPS, load_registry
from jarvisctl.kinds.step_base import (
    PROBE_CHANGE,
    PROBE_OK,
    CheckWaitAction,
    FabricAction,
    PollAction,
    RebootAction,
    RestoreAction,
    ShellAction,
    StepKind,
)

STEPS = load_registry().steps


class Files:
    """The controller's files as plan/ gives them to a kind: here a dict, `template` marked."""

    def __init__(self, files: dict[str, bytes] | None = None, directory: str = "/play") -> None:
        self.files = files or {}
        self._directory = directory
        self.reads: list[tuple[str, bool]] = []

    def read(self, src: str, *, template: bool) -> bytes:
        self.reads.append((src, template))
        if src not in self.files:
            raise ValueError(f"{src}: no such file")
        return self.files[src]

    @property
    def directory(self) -> str:
        return self._directory


def params(kind: str, value: Any) -> Any:
    return STEPS[kind].params_model.model_validate(value)


def action(kind: str, value: Any, files: Files | None = None) -> Any:
    return STEPS[kind].action(params(kind, value), files or Files())


def refused(kind: str, value: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        params(kind, value)
    return str(caught.value)


@pytest.fixture(scope="module")
def busybox_applets(tmp_path_factory: pytest.TempPathFactory) -> str:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is not installed (Debian package busybox)")
    applets = tmp_path_factory.mktemp("applets")
    listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    for name in listed.stdout.split():
        (applets / name).symlink_to(busybox)
    return str(applets)


@pytest.fixture(params=["dash", "busybox sh"])
def shell(request: pytest.FixtureRequest, busybox_applets: str) -> list[str]:
    if request.param == "dash":
        return ["/bin/dash", "-c"]
    return [f"{busybox_applets}/sh", "-c"]


def sh(shell: list[str], command: str, stdin: bytes | None = None, cwd: Path | None = None) -> Any:
    env = {"PATH": os.path.dirname(shell[0]) if "applets" in shell[0] else os.environ["PATH"]}
    return subprocess.run(
        [*shell, command], input=stdin, capture_output=True, env=env, cwd=cwd, timeout=30
    )


# --- the registry ---------------------------------------------------------------------------


def test_each_built_in_step_kind_is_named_as_its_class_says() -> None:
    listed = set()
    for name, spec in BUILTIN_STEPS.items():
        module, cls_name = spec.split(":")
        cls = getattr(importlib.import_module(f"jarvisctl.kinds.{module}"), cls_name)
        assert issubclass(cls, StepKind) and cls.name == name, spec
        listed.add(cls)
    defined = {
        cls
        for module in {spec.split(":")[0] for spec in BUILTIN_STEPS.values()}
        for _, cls in inspect.getmembers(importlib.import_module(f"jarvisctl.kinds.{module}"))
        if inspect.isclass(cls) and issubclass(cls, StepKind) and not inspect.isabstract(cls)
    }
    assert defined == listed
    assert {"run", "copy", "wait_for", "reboot", "restore", "fabric"} <= set(STEPS)


def test_every_kind_describes_itself_and_its_shorthand_is_a_parameter() -> None:
    for kind in STEPS.values():
        assert kind.description
        fields = kind.params_model.model_fields
        assert kind.shorthand is None or kind.shorthand in fields, kind.name
        assert kind.shell_params <= set(fields), kind.name


def test_the_readme_lists_every_kind_with_its_shorthand_and_parameters() -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    rows = {}
    for line in readme.read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if line.startswith("| `") and len(cells) == 4 and cells[0].strip("`") in STEPS:
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(BUILTIN_STEPS)
    for name, (_, shorthand, described, _) in rows.items():
        kind = STEPS[name]
        assert shorthand == (f"`{kind.shorthand}`" if kind.shorthand else ""), name
        for field in kind.params_model.model_fields:
            assert f"`{field}" in described, (name, field)


# --- run --------------------------------------------------------------------------------------


def test_run_is_its_command_with_no_probe() -> None:
    made = action("run", {"command": "systemctl restart app"})
    assert made == ShellAction(apply=made.apply)
    assert made.probe is None and made.verify is None
    assert [c.command for c in made.apply] == ["systemctl restart app"]
    assert made.apply[0].stdin is None
    assert STEPS["run"].shorthand == "command" and STEPS["run"].shell_params == {"command"}
    assert STEPS["run"].summary(params("run", {"command": "make install"})) == "run make install"
    long = params("run", {"command": "echo " + "x" * 80 + "\necho two"})
    assert STEPS["run"].summary(long) == "run echo " + "x" * 55 + "..."


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "command\n  Field required"),
        ({"command": ""}, "command"),
        ({"command": "true", "env": {"1X": "a"}}, "invalid environment variable name '1X'"),
        ({"command": "true", "env": {"A-B": "a"}}, "invalid environment variable name 'A-B'"),
        ({"command": "true", "env": {"A": True}}, "is a boolean: quote it"),
        ({"command": "true", "chdir": ""}, "path '' is empty"),
        ({"command": "true", "chdir": "~/app"}, "path '~/app' starts with '~'"),
        ({"command": "true", "creates": "/x"}, "Extra inputs are not permitted"),
        ({"command": ["a", "b"]}, "command\n  Input should be a valid string"),
    ],
)
def test_run_refuses_bad_parameters(value: dict[str, Any], message: str) -> None:
    assert message in refused("run", value)


HOSTILE = 'it\'s $(touch M) `touch M` "x" ; touch M \n touch M \\'


def test_run_exports_env_and_changes_directory_keeping_every_value_literal(
    shell: list[str], tmp_path: Path
) -> None:
    where = tmp_path / "a dir $(touch M) 'q'"
    where.mkdir()
    made = action(
        "run",
        {
            "command": 'pwd; printf "%s|%s" "$VALUE" "$PORT"',
            "chdir": str(where),
            "env": {"VALUE": HOSTILE, "PORT": 8080},
        },
    )
    done = sh(shell, made.apply[0].command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"{where}\n{HOSTILE}|8080"
    assert not (tmp_path / "M").exists() and not (where / "M").exists()


def test_run_in_a_missing_directory_fails_before_the_command(
    shell: list[str], tmp_path: Path
) -> None:
    made = action("run", {"command": "touch ran", "chdir": str(tmp_path / "missing")})
    done = sh(shell, made.apply[0].command, cwd=tmp_path)
    assert done.returncode != 0 and not (tmp_path / "ran").exists()


# --- copy -------------------------------------------------------------------------------------


def test_copy_reads_src_at_plan_time_and_sends_it_on_stdin_only() -> None:
    files = Files({"files/app.env": b"SECRET=hunter2\n"})
    made = action("copy", {"src": "files/app.env", "dest": "/etc/app/app.env"}, files)
    assert files.reads == [("files/app.env", False)]
    [apply] = made.apply
    assert apply.stdin == b"SECRET=hunter2\n"
    assert "hunter2" not in apply.command + made.probe + made.verify + apply.describe
    assert made.verify == made.probe
    assert hashlib.sha256(b"SECRET=hunter2\n").hexdigest() in made.probe
    assert apply.describe == "files/app.env -> /etc/app/app.env"
    action("copy", {"src": "t.j2", "dest": "/x", "template": True}, Files({"t.j2": b""}))


def test_copy_passes_on_a_template_error_from_plan() -> None:
    with pytest.raises(ValueError, match=r"missing\.j2: no such file"):
        action("copy", {"src": "missing.j2", "dest": "/x"}, Files())


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("0644", 0o644), ("644", 0o644), ("2775", 0o2775), ("0600", 0o600), (0o640, 0o640), (0, 0)],
)
def test_copy_modes(mode: Any, expected: int) -> None:
    assert params("copy", {"content": "", "dest": "/x", "mode": mode}).mode == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"dest": "/x"}, "give exactly one of src (a controller file) and content"),
        ({"src": "a", "content": "b", "dest": "/x"}, "give exactly one of src"),
        ({"content": "b", "dest": "/x", "template": True}, "template: true renders src"),
        ({"content": "b", "dest": "etc/x"}, "is not an absolute path to a file"),
        ({"content": "b", "dest": "/"}, "is not an absolute path to a file"),
        ({"content": "b", "dest": "/etc/"}, "is not an absolute path to a file"),
        (
            {"content": "b", "dest": "/x", "mode": 644},
            'mode 644 is a decimal number: write it "0644"',
        ),
        ({"content": "b", "dest": "/x", "mode": "u=rw"}, "mode 'u=rw' is not octal digits"),
        ({"content": "b", "dest": "/x", "mode": "0948"}, "is not octal digits"),
        ({"content": "b", "dest": "/x", "mode": True}, "mode True is not"),
        ({"content": "b", "dest": "/x", "mode": 0o17777}, "is out of range"),
        ({"content": "b", "dest": "/x", "owner": "a:b:c"}, "is not 'user' or 'user:group'"),
        ({"content": "b", "dest": "/x", "owner": "-r"}, "invalid owner '-r'"),
        ({"content": "b", "dest": "/x", "owner": "root:"}, "invalid owner ''"),
        ({"content": "b", "dest": "/x", "owner": "a b"}, "invalid owner 'a b'"),
        ({"content": "b", "dest": "/x", "group": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_copy_refuses_bad_parameters(value: dict[str, Any], message: str) -> None:
    assert message in refused("copy", value)


def copy_on(
    shell: list[str], dest: Path, content: bytes, **extra: Any
) -> tuple[ShellAction, Any, Any]:
    made = action("copy", {"content": content.decode(), "dest": str(dest), **extra})
    before = sh(shell, made.probe)
    applied = sh(shell, made.apply[0].command, made.apply[0].stdin)
    return made, before, applied


ODD_NAME = "a file 'with' \"quotes\" $(touch M) `touch M`; touch M"


def test_copy_writes_a_new_file_then_probes_ok(shell: list[str], tmp_path: Path) -> None:
    dest = tmp_path / ODD_NAME
    made, before, applied = copy_on(shell, dest, b"hello\n\x00bin\n", mode="0640")
    assert before.returncode == PROBE_CHANGE, before.stderr
    assert applied.returncode == 0, applied.stderr
    assert dest.read_bytes() == b"hello\n\x00bin\n"
    assert dest.stat().st_mode & 0o7777 == 0o640
    assert sh(shell, made.verify).returncode == PROBE_OK
    assert sorted(p.name for p in tmp_path.iterdir()) == [ODD_NAME]  # no temporary file left
    assert not (tmp_path / "M").exists()


def test_copy_replaces_by_renaming_and_keeps_an_existing_mode(
    shell: list[str], tmp_path: Path
) -> None:
    dest = tmp_path / "app.conf"
    dest.write_bytes(b"old\n")
    dest.chmod(0o604)
    before_inode = dest.stat().st_ino
    made, before, applied = copy_on(shell, dest, b"new\n")
    assert before.returncode == PROBE_CHANGE
    assert applied.returncode == 0, applied.stderr
    assert dest.read_bytes() == b"new\n" and dest.stat().st_ino != before_inode
    assert dest.stat().st_mode & 0o7777 == 0o604
    assert sh(shell, made.probe).returncode == PROBE_OK


def test_copy_probe_sees_a_wrong_mode_or_content(shell: list[str], tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.write_bytes(b"same\n")
    dest.chmod(0o600)
    same = action("copy", {"content": "same\n", "dest": str(dest), "mode": "0600"})
    assert sh(shell, same.probe).returncode == PROBE_OK
    other_mode = action("copy", {"content": "same\n", "dest": str(dest), "mode": "0644"})
    assert sh(shell, other_mode.probe).returncode == PROBE_CHANGE
    other_text = action("copy", {"content": "other\n", "dest": str(dest)})
    assert sh(shell, other_text.probe).returncode == PROBE_CHANGE
    owner = f"{os.getuid()}:{os.getgid()}"
    mine = action("copy", {"content": "same\n", "dest": str(dest), "owner": owner})
    assert sh(shell, mine.probe).returncode == PROBE_OK
    theirs = action("copy", {"content": "same\n", "dest": str(dest), "owner": "65534"})
    assert sh(shell, theirs.probe).returncode == PROBE_CHANGE


def test_copy_with_backup_keeps_the_replaced_file(shell: list[str], tmp_path: Path) -> None:
    dest = tmp_path / "f.conf"
    dest.write_bytes(b"old\n")
    _, _, applied = copy_on(shell, dest, b"new\n", backup=True)
    assert applied.returncode == 0, applied.stderr
    [kept] = [p for p in tmp_path.iterdir() if p.name != "f.conf"]
    assert kept.name.startswith("f.conf.") and kept.name.endswith("Z~")
    assert kept.read_bytes() == b"old\n" and dest.read_bytes() == b"new\n"


def test_copy_never_writes_through_a_link_nor_over_a_directory(
    shell: list[str], tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"theirs\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    _, before, applied = copy_on(shell, link, b"mine\n")
    assert before.returncode == 3 and b"is a symbolic link" in before.stderr
    assert applied.returncode == 3 and link.is_symlink() and target.read_bytes() == b"theirs\n"
    folder = tmp_path / "folder"
    folder.mkdir()
    _, before, applied = copy_on(shell, folder, b"mine\n")
    assert before.returncode == 3 and b"is not a regular file" in before.stderr
    assert applied.returncode == 3 and folder.is_dir()


@pytest.mark.parametrize("tool", ["openssl", "busybox"])
def test_copy_probe_without_sha256sum_uses_openssl_or_busybox(
    tool: str, tmp_path: Path, busybox_applets: str
) -> None:
    """Hosts without coreutils' sha256sum: openssl's "SHA2-256(stdin)= HASH" and busybox's
    "HASH  -" give the same digest."""
    found = shutil.which(tool)
    assert found is not None, f"{tool} is not installed"
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / tool).symlink_to(found)
    (tools / "stat").symlink_to(f"{busybox_applets}/stat")
    dest = tmp_path / "f"
    dest.write_bytes(b"content\n")
    dest.chmod(0o644)

    def probe(content: str) -> Any:
        made = action("copy", {"content": content, "dest": str(dest), "mode": "0644"})
        env = {"PATH": str(tools)}
        return subprocess.run(["/bin/dash", "-c", made.probe], env=env, capture_output=True)

    assert probe("content\n").returncode == PROBE_OK, probe("content\n").stderr
    assert probe("other\n").returncode == PROBE_CHANGE
    (tools / tool).unlink()
    done = probe("content\n")
    assert done.returncode == 3 and b"no sha256 tool on the host" in done.stderr


def test_copy_into_a_missing_directory_fails_clearly(shell: list[str], tmp_path: Path) -> None:
    _, before, applied = copy_on(shell, tmp_path / "no" / "f", b"x")
    assert before.returncode == PROBE_CHANGE
    assert applied.returncode == 1 and b"mktemp" in applied.stderr


# --- wait_for ---------------------------------------------------------------------------------


def test_wait_for_a_check_waits_on_the_plays_checks() -> None:
    made = action("wait_for", {"check": "app_health", "timeout": "1m", "interval": "5s"})
    assert made == CheckWaitAction(("app_health",), 5.0, 60.0)
    made = action("wait_for", {"check": ["a", "b"]})
    assert made == CheckWaitAction(("a", "b"), 2.0, 300.0)
    assert STEPS["wait_for"].summary(params("wait_for", {"check": ["a", "b"]})) == "wait for a, b"


def test_wait_for_a_port_url_or_path_is_a_poll() -> None:
    made = action("wait_for", {"port": 8080})
    assert isinstance(made, PollAction) and made.what == "port 8080 on 127.0.0.1 listening"
    assert (made.interval, made.timeout) == (2.0, 300.0)
    made = action("wait_for", {"url": "http://127.0.0.1:8080/health"})
    assert made.what == "http://127.0.0.1:8080/health answering"
    made = action("wait_for", {"path": "/run/app.pid", "state": "stopped"})
    assert made.what == "/run/app.pid absent"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "give exactly one of port, url, path and check"),
        (
            {"port": 1, "url": "http://x"},
            "give exactly one of port, url, path and check (got port, url)",
        ),
        ({"port": 0}, "greater than or equal to 1"),
        ({"port": 70000}, "less than or equal to 65535"),
        ({"port": True}, "port"),
        ({"port": 80, "host": "-oProxyCommand=x"}, "invalid host '-oProxyCommand=x'"),
        ({"port": 80, "host": "a b"}, "invalid host 'a b'"),
        ({"url": "ftp://x"}, "invalid url 'ftp://x'"),
        ({"url": "http://x", "state": "stopped"}, "state: stopped is for a port or a path"),
        ({"url": "http://x", "host": "y"}, "host goes with port"),
        ({"check": []}, "check: name at least one"),
        ({"path": "~/ready"}, "starts with '~'"),
        ({"port": 80, "state": "up"}, "'started' or 'stopped'"),
        ({"port": 80, "timeout": 0}, "timeout"),
        ({"port": 80, "timeout": 1, "interval": 5}, "interval 5s is longer than timeout 1s"),
    ],
)
def test_wait_for_refuses_bad_parameters(value: dict[str, Any], message: str) -> None:
    assert message in refused("wait_for", value)


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_wait_for_port_probes_a_listening_and_a_closed_port(
    shell: list[str], listening: int
) -> None:
    closed = free_port()
    for port, state, code in [
        (listening, "started", 0),
        (listening, "stopped", 1),
        (closed, "started", 1),
        (closed, "stopped", 0),
    ]:
        made = action("wait_for", {"port": port, "state": state})
        done = sh(shell, made.probe)
        assert done.returncode == code, (port, state, done.stderr)


def test_wait_for_port_with_bash_alone_then_with_no_tool(
    tmp_path: Path, listening: int, busybox_applets: str
) -> None:
    """A host without a usable nc (busybox's has no -z) uses bash's /dev/tcp; one with neither
    nc, bash nor curl reads /proc/net/tcp for its own loopback, and for another address says
    what to install (and is never taken as `stopped`)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("sh", "timeout", "cat", "nc"):
        (tools / name).symlink_to(f"{busybox_applets}/{name}")
    bash = shutil.which("bash")
    assert bash is not None
    (tools / "bash").symlink_to(bash)
    env = {"PATH": str(tools)}

    def probe(port: int, state: str, host: str = "127.0.0.1") -> Any:
        text = action("wait_for", {"port": port, "state": state, "host": host}).probe
        return subprocess.run([str(tools / "sh"), "-c", text], env=env, capture_output=True)

    closed = free_port()
    for port, state, code in [(listening, "started", 0), (listening, "stopped", 1)]:
        assert probe(port, state).returncode == code
    (tools / "bash").unlink()
    for port, state, code in [
        (listening, "started", 0),
        (listening, "stopped", 1),
        (closed, "started", 1),
        (closed, "stopped", 0),
    ]:
        assert probe(port, state).returncode == code, (port, state)
    done = probe(listening, "stopped", host="127.0.0.2")
    assert done.returncode == 2 and b"install nc" in done.stderr


def test_wait_for_path(shell: list[str], tmp_path: Path) -> None:
    there = tmp_path / "it's $(there)"
    there.write_text("")
    assert sh(shell, action("wait_for", {"path": str(there)}).probe).returncode == 0
    gone = action("wait_for", {"path": str(there), "state": "stopped"}).probe
    assert sh(shell, gone).returncode == 1
    there.unlink()
    assert sh(shell, gone).returncode == 0


# --- reboot, restore, fabric ----------------------------------------------------------------


def test_reboot_defaults_and_true() -> None:
    kind = STEPS["reboot"]
    assert kind.shorthand is None  # plan/ reads `reboot:`, `reboot: {}` and `reboot: true` as {}
    made = action("reboot", {})
    assert isinstance(made, RebootAction)
    assert made.command.command == "systemctl reboot || reboot" and made.wait == 600.0
    assert made.boot_id
    assert action("reboot", {"wait": "15m", "command": "shutdown -r now"}).wait == 900.0
    assert kind.shell_params == {"command"}
    assert "wait" in refused("reboot", {"wait": 0})
    assert "Extra inputs" in refused("reboot", {"delay": 3})
    assert kind.summary(params("reboot", {})) == "reboot"


def test_restore_names_a_backup() -> None:
    assert action("restore", {"backup": "app-config"}) == RestoreAction("app-config")
    made = action("restore", {"backup": "db", "snapshot": "4f2a9c1e"})
    assert made == RestoreAction("db", "4f2a9c1e")
    assert STEPS["restore"].shorthand == "backup"
    assert STEPS["restore"].summary(params("restore", {"backup": "db"})) == "restore db"
    assert "invalid backup name '-db'" in refused("restore", {"backup": "-db"})
    assert "invalid snapshot id 'a b'" in refused("restore", {"backup": "db", "snapshot": "a b"})


def test_fabric_names_a_task_beside_the_playbook() -> None:
    made = action(
        "fabric",
        {"task": "fabfile:deploy", "args": {"version": "1.2"}},
        Files(directory="/srv/plays"),
    )
    assert made == FabricAction("fabfile:deploy", {"version": "1.2"}, "/srv/plays")
    assert action("fabric", {"task": "tasks.web:restart"}).target == "tasks.web:restart"
    assert STEPS["fabric"].shorthand == "task"
    summary = STEPS["fabric"].summary(params("fabric", {"task": "fabfile:deploy"}))
    assert summary == "fabric fabfile:deploy"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"task": "fabfile"}, "invalid task 'fabfile' (module:function"),
        ({"task": "fab-file:deploy"}, "invalid task 'fab-file:deploy'"),
        ({"task": "fabfile:deploy:x"}, "invalid task"),
        ({"task": "../x:deploy"}, "invalid task"),
        ({"task": "fabfile:deploy", "args": {"c": 1}}, "`c` is the connection"),
        ({"task": "fabfile:deploy", "args": {"a b": 1}}, "invalid argument name 'a b'"),
    ],
)
def test_fabric_refuses_bad_parameters(value: dict[str, Any], message: str) -> None:
    assert message in refused("fabric", value)
