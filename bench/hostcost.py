"""What jarvisctl's remote script costs on the hosts, piece by piece, all sent with OpenSSH
(curve25519) so that only the remote side differs:

- floor: the 8 commands in the login shell, as the benchmark's floor runs them;
- jarvisctl: jarvisctl's own script (`compose_script`) on stdin of the command jarvisctl sends
  for it (`wrap_remote_command`: a plain `sh -s` since commit e12676b);
- the same script under the outer `timeout -s TERM -k .. .. sh -c 'sh -s'` sent before that;
- every command under `timeout .. sh -c ..` (jarvisctl before commit aab6593);
- no per-command `timeout`: the same script, each command run by the script's own shell.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

from bench.commands import COMMANDS, floor_script
from bench.fleet import BenchFleet

_COMPOSE = """
import json, shlex, sys
from jarvisctl.connection.base import KILL_AFTER
from jarvisctl.connection.shell import format_seconds, wrap_remote_command
from jarvisctl.engine.script import compose_script
commands, timeout = json.loads(sys.argv[1]), 30.0
script = compose_script([(c, timeout) for c in commands])
lines = script.text.splitlines()
at = [i for i, line in enumerate(lines) if line.startswith("timeout ")]
assert len(at) == len(commands), "the script no longer has one `timeout` line per command"
limits = f"{format_seconds(KILL_AFTER)} {format_seconds(timeout)}"
bare, shell = list(lines), list(lines)
for i, c in zip(at, commands):
    bare[i] = "{ " + c + "; } </dev/null"
    shell[i] = f"timeout -k {limits} sh -c {shlex.quote(c)} </dev/null"
outer = wrap_remote_command(
    "sh -s", timeout=script.budget, become=False, become_user=None, login_user="root"
)
parts = {
    "script": script.text,
    "bare": "\\n".join(bare) + "\\n",
    "shell": "\\n".join(shell) + "\\n",
    "outer": outer,
}
print(json.dumps(parts))
"""


def jarvisctl_scripts(source: str | None) -> dict[str, str]:
    """jarvisctl's script and wrapper, from the jarvisctl being measured."""
    env = {"PYTHONPATH": source} if source else {}
    done = subprocess.run(
        [sys.executable, "-c", _COMPOSE, json.dumps([c for _, c in COMMANDS])],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
        cwd="/",
    )
    parts: dict[str, str] = json.loads(done.stdout)
    return parts


def variants(source: str | None) -> dict[str, tuple[str, str | None]]:
    """name -> (remote command, stdin)."""
    parts = jarvisctl_scripts(source)
    return {
        "floor (8 commands in the login shell)": (floor_script(), None),
        "jarvisctl script, as jarvisctl sends it": (parts["outer"], parts["script"]),
        "jarvisctl script under an outer `timeout .. sh -c 'sh -s'` (before e12676b)": (
            f"timeout -s TERM -k 2 257 sh -c {shlex.quote('sh -s')}",
            parts["script"],
        ),
        "jarvisctl script, every command under `timeout .. sh -c` (before aab6593)": (
            "sh -s",
            parts["shell"],
        ),
        "jarvisctl script, no per-command `timeout` at all": ("sh -s", parts["bare"]),
    }


def host_cpu_once(fleet: BenchFleet, command: str, stdin: str | None) -> float:
    """Host-side CPU of running `command` on every host at once (OpenSSH, curve25519)."""
    fleet.wait_idle()
    before = fleet.host_cpu()
    kex = ("-o", "KexAlgorithms=curve25519-sha256")
    processes = [
        subprocess.Popen(
            [*fleet.ssh_argv(host, *kex), command],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for host in fleet.hosts
    ]
    for process in processes:
        process.communicate((stdin or "").encode(), timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"{command[:60]!r} exited {process.returncode}")
    fleet.wait_idle()
    return fleet.host_cpu() - before


def measure_host_costs(
    fleet: BenchFleet, source: str | None, repeat: int
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for name, (command, stdin) in variants(source).items():
        runs = [host_cpu_once(fleet, command, stdin) for _ in range(repeat)]
        median = statistics.median(runs)
        results[name] = {
            "host_cpu_seconds": round(median, 3),
            "per_host_ms": round(1000 * median / len(fleet.hosts), 2),
        }
    return results


def save(results: dict[str, dict[str, float]], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2) + "\n")
