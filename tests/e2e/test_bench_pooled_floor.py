"""bench/daemon/pooled_floor.py: a bare paramiko client's pooled cycles over real sshd hosts,
each host's script the one jarvisctl composes, every end mark read back; its figures written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench.daemon import pooled_floor
from bench.fleet import sshd_unavailable_reason
from jarvisctl.engine.script import compose_script

pytestmark = pytest.mark.e2e


def test_a_bare_pooled_cycle_is_measured_per_host(tmp_path: Path) -> None:
    reason = sshd_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    argv = ["--hosts", "3", "--forks", "2", "--cycles", "2", "--shared-pid-namespace"]
    assert pooled_floor.main([*argv, "--results", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("pooled-floor-*.json")
    result = json.loads(written.read_text())
    assert (result["hosts"], result["checks"], len(result["cycles"])) == (3, 20, 3)
    assert result["cycle_cpu"] > 0
    assert result["cpu_per_host_ms"] == round(result["cycle_cpu"] / 3 * 1000, 3)


def test_the_floors_script_writes_what_jarvisctls_writes() -> None:
    """The floor's script is written in bench/ (which imports no jarvisctl module): it must
    make the same writes, marks included, as the script jarvisctl composes."""
    token = "0123456789abcdef01234567"
    commands = ["echo 1", "true", "echo err >&2; false", "printf x"]
    ours = compose_script([(command, 5.0) for command in commands], token=token).text
    theirs = pooled_floor.script(commands, token)
    runs = [
        subprocess.run(["sh", "-s"], input=text.encode(), capture_output=True, check=True)
        for text in (ours, theirs)
    ]
    assert runs[0].stdout == runs[1].stdout and runs[0].stderr == runs[1].stderr
    assert runs[1].stdout.count(f"@@J{token}:E:".encode()) == len(commands)
    assert theirs.count("printf ") == ours.count("printf ")
