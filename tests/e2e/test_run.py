"""`jarvisctl run` end to end, against real sshd hosts on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost

pytestmark = pytest.mark.e2e

IDENTITY = """\
- name: fleet
  hosts: all
  checks:
    - name: identity
      use: command
      with: {command: "echo $JARVIS_TEST_HOST", parse: regex, regex: "host(\\\\d+)"}
    - name: root disk
      use: disk_usage
      warn: 99
      crit: 100
      clear: 98
    - name: memory
      use: memory_available
      warn: 1
      crit: 0.5
      clear: 2
"""


def jarvisctl(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_json(playbook: str, cwd: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    (cwd / "play.yml").write_text(textwrap.dedent(playbook))
    result = jarvisctl("run", "play.yml", "-i", "inventory.yml", "--json", *extra, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.fixture
def project(tmp_path: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]) -> Path:
    sshd_fleet.write_inventory(tmp_path / "inventory.yml")
    return tmp_path


def by_host(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["host"]: h for h in document["hosts"]}


def test_a_run_over_several_hosts(project: Path, sshd_hosts: list[SshdHost]) -> None:
    code, document = run_json(IDENTITY, project)
    assert code == 0, document
    hosts = by_host(document)
    assert set(hosts) == {h.name for h in sshd_hosts}
    for host in sshd_hosts:
        result = hosts[host.name]
        assert result["outcome"] == "ok"
        assert result["host_key"] == host.fingerprint
        checks = {c["name"]: c for c in result["checks"]}
        # each host answered for itself: the value comes from that sshd's own environment
        assert checks["identity"]["value"] == float(host.name.removeprefix("host"))
        assert checks["root disk"]["status"] == "ok" and 0 < checks["root disk"]["value"] < 100


def test_a_stopped_host_is_unreachable_while_the_others_finish(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    down = sshd_hosts[1]
    down.stop()
    started = time.monotonic()
    code, document = run_json(IDENTITY, project)
    assert time.monotonic() - started < 20
    assert code == 4  # some host unreachable
    hosts = by_host(document)
    assert hosts[down.name]["outcome"] == "unreachable"
    assert f"{down.address}:{down.port}" in hosts[down.name]["error"]
    assert hosts[down.name]["checks"] == []
    for host in sshd_hosts:
        if host is not down:
            assert hosts[host.name]["outcome"] == "ok"
            assert len(hosts[host.name]["checks"]) == 3


def test_a_changed_host_key_is_refused(project: Path, sshd_hosts: list[SshdHost]) -> None:
    changed = sshd_hosts[2]
    changed.rotate_host_key()
    code, document = run_json(IDENTITY, project)
    assert code == 4
    hosts = by_host(document)
    assert hosts[changed.name]["outcome"] == "unreachable"
    assert "CHANGED" in hosts[changed.name]["error"].upper()
    assert "ssh-keygen -R" in hosts[changed.name]["error"]
    assert hosts[sshd_hosts[0].name]["outcome"] == "ok"


def test_a_wrong_client_key_is_an_authentication_failure(
    project: Path, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    inventory = (project / "inventory.yml").read_text()
    (project / "inventory.yml").write_text(
        inventory.replace(str(sshd_fleet.client_key), str(other))
    )
    code, document = run_json(IDENTITY, project)
    assert code == 4
    for host in document["hosts"]:
        assert host["outcome"] == "unreachable"
        assert "authentication" in host["error"].lower()


def test_ansible_ssh_arguments_route_the_connection(
    project: Path, sshd_fleet: SshdFleet, sshd_hosts: list[SshdHost]
) -> None:
    """An Ansible inventory that says how to connect in ansible_ssh_*_args only."""
    hosts = {
        host.name: {"ansible_host": host.address, "ansible_ssh_extra_args": f"-p {host.port}"}
        for host in sshd_hosts
    }
    common = (
        f"-C -o ControlMaster=auto -o ControlPersist=60s -l root -i {sshd_fleet.client_key} "
        f"-o UserKnownHostsFile={sshd_fleet.known_hosts}"
    )
    inventory = {"all": {"vars": {"ansible_ssh_common_args": common}, "hosts": hosts}}
    (project / "inventory.yml").write_text(json.dumps(inventory))
    code, document = run_json(IDENTITY, project)
    assert code == 0, document
    assert {h["host"]: h["outcome"] for h in document["hosts"]} == {
        h.name: "ok" for h in sshd_hosts
    }

    first = sshd_hosts[0].name  # a password in the inventory is named, not used
    hosts[first]["ansible_password"] = "hunter2"
    inventory["all"]["vars"]["ansible_ssh_common_args"] = common.replace("-l root", "-l nobody")
    (project / "inventory.yml").write_text(json.dumps(inventory))
    code, document = run_json(IDENTITY, project, "--limit", first)
    assert code == 4
    error = document["hosts"][0]["error"]
    assert "nobody@" in error and "refused our credentials" in error
    assert "ansible_password is set, but jarvisctl does not use passwords" in error
    assert "hunter2" not in json.dumps(document)

    hosts[first]["ansible_ssh_extra_args"] = "-o StrictHostKeyChecking=no"
    (project / "inventory.yml").write_text(json.dumps(inventory))
    result = jarvisctl("run", "play.yml", "-i", "inventory.yml", cwd=project)
    assert result.returncode == 3, result.stderr  # a configuration error
    assert "inventory.yml" in result.stderr and "ansible_ssh_extra_args" in result.stderr
    assert "never turns the check off" in result.stderr and "Traceback" not in result.stderr


IMPORTS_PROBE = """
import atexit, json, sys
from jarvisctl.cli.main import main
atexit.register(lambda: print(json.dumps(sorted(
    m for m in ("invoke", "asyncio", "jinja2") if m in sys.modules)), file=sys.stderr))
sys.argv = ["jarvisctl", *sys.argv[1:]]
main()
"""


def test_a_run_over_ssh_imports_paramiko_without_invoke(project: Path) -> None:
    """paramiko would import Invoke (unittest.mock, asyncio, ssl: ~35 ms, 5 MiB) before the
    first host, whichever path looks a host up first (the early connections' included)."""
    (project / "play.yml").write_text(IDENTITY)
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_PROBE, "run", "play.yml", "-i", "inventory.yml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("ignores_term", [False, True], ids=["ends-on-term", "ignores-term"])
def test_a_hanging_command_is_killed_at_its_timeout(
    project: Path, sshd_hosts: list[SshdHost], ignores_term: bool
) -> None:
    """The controller ends a hung check's command at its own deadline (TERM; KILL 2 s later
    for one that ignores TERM), with what it started (beside it, in the background, in a
    session of its own); the host's other checks report their values, the ones after it from
    a follow-up script, within their own deadlines plus 1 s; nothing of it is left."""
    tag = uuid.uuid4().int % 10**9
    hang = (
        f"setsid sleep 301.{tag} </dev/null >/dev/null 2>&1 & "
        f"sh -c 'sleep 302.{tag}; echo 0' & sleep 303.{tag}; echo 1"
    )
    if ignores_term:
        hang = f"trap '' TERM; {hang}"
    playbook = f"""\
    - name: hang
      hosts: {sshd_hosts[0].name}
      checks:
        - name: before
          use: command
          with: {{command: "echo 5"}}
        - name: hangs
          use: command
          with: {{command: "{hang}"}}
          timeout: 2s
        - name: after
          use: command
          with: {{command: "sleep 0.2; echo 7"}}
          timeout: 3s
    """
    started = time.monotonic()
    code, document = run_json(playbook, project)
    elapsed = time.monotonic() - started
    # the hung command sleeps 301 s; the bounds that matter are the journal's, below (this
    # one includes the interpreter's start, which a machine at a load of 100 makes slow)
    assert elapsed < 40, "the run waited for the hung command instead of its timeout"
    checks = {c["name"]: c for c in document["hosts"][0]["checks"]}
    assert checks["hangs"]["status"] == "unknown"
    assert checks["hangs"]["reason"] == "timed out after 2s (the command was killed on the host)"
    assert checks["hangs"]["exit_code"] == (137 if ignores_term else 124)
    assert (checks["before"]["value"], checks["after"]["value"]) == (5, 7)
    assert code == 1
    records = _journal(project)
    (connected,) = [r["at"] for r in records if r["event"] == "host_connected"]
    first, follow_up = [r for r in records if r["event"] == "batch"]
    assert (first["data"]["commands"], follow_up["data"]["commands"]) == (3, 1)
    # TERM at 2 s (it ends the script at once); KILL 2 s after TERM is done, each a second
    # channel that walks /proc: up to a second or so on a busy host (a load average of 60)
    ended_within = 2 + 1 if not ignores_term else 2 + 2 + 2
    assert first["at"] - connected < ended_within, "the hung command was ended late"
    assert follow_up["at"] - first["at"] < 3 + 1, "the check after it reported late"
    assert _processes_matching(f"30[123].{tag}") == [], "a process of the hung command survived"


def _journal(project: Path) -> list[dict[str, Any]]:
    (journal,) = project.rglob("runs/*.jsonl")
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    return [{**r, "event": r.get("event", r.get("kind"))} for r in records]


def test_local_and_ssh_results_agree(project: Path, sshd_hosts: list[SshdHost]) -> None:
    # The test hosts share this machine's kernel and filesystems, so values must agree.
    inventory = project / "inventory.yml"
    text = inventory.read_text().replace(
        "  children:", "  hosts:\n    localhost: {ansible_connection: local}\n  children:", 1
    )
    inventory.write_text(text)
    # exit 0 whatever this machine's disk and swap hold: any percentage is OK here
    any_percent = "warn: 101, crit: 102, clear: 100"
    playbook = f"""\
    - name: same
      hosts: localhost:{sshd_hosts[0].name}
      checks:
        - {{name: disk, use: disk_usage, with: {{path: /}}, {any_percent}}}
        - {{name: inodes, use: inode_usage, with: {{path: /}}, {any_percent}}}
        - {{name: swap, use: swap_used, {any_percent}}}
        - {{name: answer, use: command, with: {{command: "expr 6 \\\\* 7"}}}}
    """
    code, document = run_json(playbook, project)
    assert code == 0, document
    local, remote = (by_host(document)[name] for name in ("localhost", sshd_hosts[0].name))
    assert local["address"] == "local" and remote["address"].startswith("ssh root@")
    for mine, theirs in zip(local["checks"], remote["checks"], strict=True):
        assert mine["name"] == theirs["name"] and mine["status"] == theirs["status"]
        assert mine["value"] == pytest.approx(theirs["value"], abs=1.0)
    assert local["checks"][3]["value"] == 42


def test_sigterm_stops_cleanly_and_ends_remote_commands(
    project: Path, sshd_hosts: list[SshdHost]
) -> None:
    marker = f"60.{uuid.uuid4().int % 10**12}"  # the sleep's own command line: `sleep MARKER`
    (project / "play.yml").write_text(
        textwrap.dedent(f"""\
        - name: slow
          hosts: all
          checks:
            - name: slow
              use: command
              with: {{command: "sleep {marker}; echo 1"}}
              timeout: 2m
        """)
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while len(_processes_matching(marker)) < len(sshd_hosts) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_processes_matching(marker)) >= len(sshd_hosts), "the commands never started"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "RECAP" in stdout and "(interrupted)" in stdout
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 10
    while _processes_matching(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_matching(marker) == [], "remote commands outlived the interrupted run"


def _processes_matching(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split() if int(pid) != os.getpid()]
