"""The step engine on real sshd hosts: guards, probe/apply/verify and stdin, retries with a
command that fails once, timeouts, become without sudo, polls, waits for checks, a simulated
reboot, a restore from a real snapshot, and a Fabric task from a fabfile."""

from __future__ import annotations

import hashlib
import json
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jarvisctl.core.results import StepOutcome
from jarvisctl.kinds.step_base import (
    CheckWaitAction,
    FabricAction,
    HostCommand,
    PollAction,
    RebootAction,
    RestoreAction,
)
from tests.e2e.backup_hosts import kill_sshd
from tests.e2e.sshd import SshdFleet, SshdHost
from tests.e2e.steps_runner import StepsOnHost, shell, step
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

OK, CHANGED, FAILED = StepOutcome.OK, StepOutcome.CHANGED, StepOutcome.FAILED
# fails the first time it runs, passes from then on: a counter file on the host
ONCE = 'n=$(cat {c} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {c}; [ "$n" -ge {k} ]'


@pytest.fixture
def on_host(
    tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> Iterator[StepsOnHost]:
    steps = StepsOnHost(tmp_path, sshd_fleet, sshd_hosts[0])
    yield steps
    steps.close()


def counter(on_host: StepsOnHost, name: str, passes_at: int) -> tuple[str, Path]:
    path = on_host.work / name
    return ONCE.format(c=shlex.quote(str(path)), k=passes_at), path


def test_guards_on_a_real_host(on_host: StepsOnHost) -> None:
    done = on_host.work / "done marker"
    runner = on_host.runner()
    touch = shell(f"touch {shlex.quote(str(done))}")
    first = runner.run(step(touch, creates=str(done)))
    second = runner.run(step(touch, creates=str(done)))
    assert (first.outcome, second.outcome) == (CHANGED, OK)
    assert second.reason == f"skipped: creates {done} holds"
    gone = runner.run(step(shell("false"), removes=str(on_host.work / "absent")))
    assert (gone.outcome, gone.attempts) == (OK, 0)
    unless = runner.run(step(shell("false"), unless=f"test -e {shlex.quote(str(done))}"))
    assert unless.outcome is OK


def test_a_copy_like_step_writes_its_stdin_then_is_ok_the_second_time(
    on_host: StepsOnHost,
) -> None:
    target = on_host.work / "conf" / "app.env"
    content = b"KEY=value with 'quotes' and $dollar\n\x00\xff binary\n"
    quoted = shlex.quote(str(target))
    digest = hashlib.sha256(content).hexdigest()
    action = shell(
        HostCommand(f"cat > {quoted}.new && mv {quoted}.new {quoted}", stdin=content),
        probe=f"echo '{digest}  '{quoted} | sha256sum -c --status - && exit 0; exit 1",
        verify=f"echo '{digest}  '{quoted} | sha256sum -c --status -",
    )
    runner = on_host.runner()
    first = runner.run(step(action, name="write app.env"))
    assert (first.outcome, first.reason) == (CHANGED, "applied and verified")
    assert target.read_bytes() == content
    again = runner.run(step(action, name="write app.env"))
    assert (again.outcome, again.attempts) == (OK, 0)
    assert all(b"dollar" not in c["command"].encode() for c in on_host.commands())


def test_a_step_that_fails_once_succeeds_on_its_retry(on_host: StepsOnHost) -> None:
    command, count = counter(on_host, "tries", passes_at=2)
    note = on_host.runner().run(step(shell(command), retries=2, delay=0.1))
    assert (note.outcome, note.attempts) == (CHANGED, 2)
    assert count.read_text().strip() == "2"


def test_a_command_over_its_timeout_is_ended_and_fails_the_step(on_host: StepsOnHost) -> None:
    started = time.monotonic()
    note = on_host.runner().run(step(shell("sleep 60"), timeout=1.0))
    assert note.outcome is FAILED
    assert note.reason.startswith("'sleep 60' timed out after")
    assert time.monotonic() - started < 30


def test_become_as_the_login_user_needs_no_sudo(on_host: StepsOnHost) -> None:
    who = on_host.work / "who"
    note = on_host.runner().run(step(shell(f"id -un > {who}"), become=True))
    assert note.outcome is CHANGED
    assert who.read_text().strip() == "root"


def test_check_mode_changes_nothing_on_the_host(on_host: StepsOnHost) -> None:
    target = on_host.work / "never"
    action = shell(f"touch {target}", probe=f"test -e {target} && exit 0; exit 1")
    note = on_host.runner("check").run(step(action))
    assert note.outcome is StepOutcome.WOULD_CHANGE
    assert not target.exists()


def test_a_poll_waits_until_its_probe_passes(on_host: StepsOnHost) -> None:
    command, count = counter(on_host, "polls", passes_at=3)
    action = PollAction(command, interval=0.1, timeout=60.0, what="the counter at 3")
    note = on_host.runner().run(step(action, kind="wait_for"))
    assert note.outcome is OK
    assert count.read_text().strip() == "3"
    assert note.reason.startswith("the counter at 3 (after 3 tries")


def test_a_check_wait_waits_for_the_check_to_be_ok(on_host: StepsOnHost) -> None:
    level = on_host.work / "level"
    level.write_text("95\n")
    action = CheckWaitAction(("level",), interval=0.2, timeout=60.0)
    cooled = threading.Timer(1.0, lambda: level.write_text("10\n"))
    cooled.start()
    note = on_host.runner().run(step(action, kind="wait_for"))
    cooled.join()
    assert (note.outcome, note.reason) == (OK, "'level' OK")
    batches = [e for e in on_host.events.events if e.kind.value == "batch"]
    assert len(batches) >= 2
    assert {e.payload.record()["purpose"] for e in batches} == {"step"}


def test_a_reboot_reconnects_once_the_host_is_back(on_host: StepsOnHost) -> None:
    host, marker = on_host.host, on_host.work / "rebooting"
    action = RebootAction(HostCommand(f"touch {marker}; sleep 60"), wait=60.0, boot_id=False)
    runner = on_host.runner()
    before = runner.connection

    def reboot() -> None:  # the host goes down under the command, and comes back later
        wait_for(marker.exists, 30, "the reboot command to start")
        kill_sshd(host)
        time.sleep(1.0)
        host.start()

    rebooting = threading.Thread(target=reboot)
    rebooting.start()
    note = runner.run(step(action, kind="reboot"))
    rebooting.join()
    assert (note.outcome, note.reason) == (CHANGED, "rebooted and back")
    assert runner.connection.is_open
    assert runner.connection.run("echo back", timeout=10).stdout == "back\n"
    assert before is runner.connection or not before.is_open


def test_a_host_back_with_another_host_key_fails_the_reboot_at_once(
    on_host: StepsOnHost,
) -> None:
    host, marker = on_host.host, on_host.work / "rebooting"
    action = RebootAction(HostCommand(f"touch {marker}; sleep 60"), wait=60.0, boot_id=False)
    runner = on_host.runner()

    def reboot() -> None:  # it comes back as another machine
        wait_for(marker.exists, 30, "the reboot command to start")
        kill_sshd(host)
        host.rotate_host_key()

    rebooting = threading.Thread(target=reboot)
    rebooting.start()
    note = runner.run(step(action, kind="reboot"))
    rebooting.join()
    assert note.outcome is FAILED  # at once: polling until the wait ends would say "not back"
    assert note.reason.startswith("the host came back, but cannot be trusted: ")


def test_a_host_that_keeps_its_boot_id_did_not_reboot(on_host: StepsOnHost) -> None:
    action = RebootAction(HostCommand("true"), wait=3.0)
    note = on_host.runner().run(step(action, kind="reboot"))
    assert note.outcome is FAILED
    assert note.reason == "the host did not reboot within 3s (same boot id)"


def test_a_restore_step_puts_back_the_verified_snapshot(on_host: StepsOnHost) -> None:
    conf = on_host.work / "conf" / "app.conf"
    conf.write_bytes(b"version=1\n")
    (on_host.work / "level").write_text("10\n")
    on_host.take_backup()
    conf.write_bytes(b"version=2 broken\n")
    runner = on_host.runner()
    note = runner.run(step(RestoreAction("conf"), kind="restore"))
    assert note.outcome is CHANGED, note.reason
    assert note.reason.startswith("restored 1 of")
    assert conf.read_bytes() == b"version=1\n"
    again = runner.run(step(RestoreAction("conf"), kind="restore"))
    assert again.outcome is OK


def test_a_restore_without_a_snapshot_fails_saying_so(on_host: StepsOnHost) -> None:
    note = on_host.runner().run(step(RestoreAction("conf"), kind="restore"))
    assert note.outcome is FAILED
    assert note.reason == (
        f"no snapshot of backup 'conf' of host {on_host.host.name!r} has been taken: "
        "nothing to restore"
    )


FABFILE = """\
from fabric import task


@task
def deploy(c, version):
    c.run(f"echo {version} > {TARGET}")
    c.run(f"echo {c.user}@{c.host}:{c.port} > {TARGET}.where")
    return c.run(f"cat {TARGET}").stdout


@task
def broken(c):
    c.run("echo to stderr >&2; exit 3")
"""


def test_a_fabric_task_runs_over_the_verified_connection(on_host: StepsOnHost) -> None:
    target = on_host.work / "version"
    fabfiles = on_host.root / "fab"
    fabfiles.mkdir()
    (fabfiles / "fabfile.py").write_text(FABFILE.replace("{TARGET}", str(target)))
    action = FabricAction("fabfile:deploy", {"version": "1.4.2"}, str(fabfiles))
    runner = on_host.runner()
    note = runner.run(step(action, kind="fabric"))
    assert (note.outcome, note.reason) == (CHANGED, "called the Fabric task fabfile:deploy")
    assert target.read_text() == "1.4.2\n"
    host = on_host.host
    assert Path(f"{target}.where").read_text() == f"root@{host.address}:{host.port}\n"
    ran = [c["command"] for c in on_host.commands()]
    assert ran[0] == f"echo 1.4.2 > {target}" and ran[-1] == f"cat {target}"
    failed = runner.run(step(FabricAction("fabfile:broken", {}, str(fabfiles)), kind="fabric"))
    assert failed.outcome is FAILED
    assert "exit 3" in failed.reason and "Exit code: 3" in failed.reason
    missing = runner.run(step(FabricAction("nofile:x", {}, str(fabfiles)), kind="fabric"))
    assert missing.outcome is FAILED
    assert missing.reason.startswith("cannot load the Fabric task nofile:x: no module 'nofile'")


def test_a_fabric_task_refuses_a_host_whose_key_is_not_known(
    on_host: StepsOnHost, tmp_path: Path
) -> None:
    fabfiles = tmp_path / "fab2"
    fabfiles.mkdir()
    (fabfiles / "fabfile.py").write_text(FABFILE.replace("{TARGET}", "/dev/null"))
    runner = on_host.runner()
    rotated = on_host.host.rotate_host_key()
    note = runner.run(step(FabricAction("fabfile:deploy", {"version": "x"}, str(fabfiles))))
    assert note.outcome is FAILED
    assert "cannot open the Fabric task's connection" in note.reason
    assert rotated in note.reason or "host key" in note.reason.lower()


FABFILE_SECRET = """\
import io, json
from pathlib import Path


def deploy(c, token, marker):
    c.run(f": {token}; touch {marker}; sleep 3; echo {token} > {marker}.done")
    shown = c.run("printf 'out\\n'; printf 'err\\n' >&2")
    failed = c.run("echo why >&2; exit 7", warn=True)
    greeting = c.run('printf %s "$GREETING"', env={"GREETING": "hello"})
    fed = c.run("cat", in_stream=io.StringIO("fed on stdin\\n"))
    lines = c.run("printf 'a\\n'\\nprintf 'b\\n'\\n\\nprintf 'c\\n'")
    kept = c.run('printf %s "${__jv_c-none}${__jv_n-}${__jv_l-}"')  # the reader's own
    results = {
        "shown": [shown.stdout, shown.stderr, shown.exited],
        "failed": [failed.exited, failed.failed, failed.stderr],
        "greeting": greeting.stdout,
        "fed": fed.stdout,
        "lines": lines.stdout,
        "kept": kept.stdout,
    }
    Path(marker + ".results").write_text(json.dumps(results))
"""


def test_a_fabric_tasks_commands_are_never_in_the_hosts_process_list(
    on_host: StepsOnHost,
) -> None:
    """Its commands travel on stdin as every step's do: a secret in what a fabfile runs is in
    no process's command line on the host while it runs; `c.run` keeps its result, `warn`,
    `hide`, `env` and `in_stream`, and a command of several lines runs whole."""
    fabfiles = on_host.root / "fab-secret"
    fabfiles.mkdir()
    (fabfiles / "fabfile.py").write_text(FABFILE_SECRET)
    marker = on_host.work / "fabric-running"
    secret = "fabric-token-7c41d2e9b3"
    seen: list[str] = []

    def look() -> None:
        wait_for(marker.exists, 30, "the fabric task's command to start")
        seen.extend(line for line in command_lines() if secret in line)

    looking = threading.Thread(target=look)
    looking.start()
    action = FabricAction("fabfile:deploy", {"token": secret, "marker": str(marker)}, str(fabfiles))
    note = on_host.runner().run(step(action, kind="fabric"))
    looking.join()
    assert (note.outcome, note.reason) == (CHANGED, "called the Fabric task fabfile:deploy")
    assert Path(f"{marker}.done").read_text() == f"{secret}\n"  # it ran
    assert seen == []
    results = json.loads(Path(f"{marker}.results").read_text())
    assert results == {
        "shown": ["out\n", "err\n", 0],
        "failed": [7, True, "why\n"],
        "greeting": "hello",
        "fed": "fed on stdin\n",
        "lines": "a\nb\nc\n",
        "kept": "none",
    }
    ran = [c["command"] for c in on_host.commands()]
    assert ran[0] == f": {secret}; touch {marker}; sleep 3; echo {secret} > {marker}.done"


def command_lines() -> list[str]:
    """Every process's command line on this machine (the test hosts share it)."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue  # it ended meanwhile
    return lines


def test_a_steps_command_is_never_in_the_hosts_process_list(on_host: StepsOnHost) -> None:
    marker = on_host.work / "running"
    secret = "token-5f0c2e9a71"
    command = f": {secret}; touch {marker}; sleep 3; echo {secret} > {marker}.done"
    seen: list[str] = []

    def look() -> None:
        wait_for(marker.exists, 30, "the step to start")
        seen.extend(line for line in command_lines() if secret in line)

    looking = threading.Thread(target=look)
    looking.start()
    note = on_host.runner().run(step(shell(command), become=True))
    looking.join()
    assert note.outcome is CHANGED
    assert (on_host.work / "running.done").read_text() == f"{secret}\n"
    assert seen == []
