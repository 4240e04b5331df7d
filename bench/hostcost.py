"""What jarvisctl's remote script costs on the hosts, piece by piece, all sent with OpenSSH
(curve25519) so that only the remote side differs:

- floor: the 8 commands in the login shell, as the benchmark's floor runs them;
- jarvisctl: jarvisctl's own script on stdin of the exec line jarvisctl sends for it (a plain
  `sh -s` since commit e12676b), both as recorded from a real `jarvisctl run` (capture.py);
- the same script under the outer `timeout -s TERM -k .. .. sh -c 'sh -s'` sent before that;
- every command under `timeout .. sh -c ..` (jarvisctl before commit aab6593);
- every command under `timeout` as the script's own line (jarvisctl before the watchdog,
  e642ae5, which enforces each command's deadline from the controller);
- each command in a `{ ..; }` group of the script's own shell.
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
from pathlib import Path

from bench.capture import RemoteWork
from bench.commands import COMMANDS, floor_script
from bench.fleet import BenchFleet


def variants(work: RemoteWork) -> dict[str, tuple[str, RemoteWork | None]]:
    """name -> (remote command, script on stdin), from the remote work a real run sent."""
    commands = [command for _, command in COMMANDS]
    limits = "-k 2 30"  # a check's default timeout, and the KILL 2 s after TERM
    bare = work.replace_commands({c: "{ " + c + "; } </dev/null" for c in commands})
    timed = work.replace_commands({c: f"timeout {limits} {c} </dev/null" for c in commands})
    shell = work.replace_commands(
        {c: f"timeout {limits} sh -c {shlex.quote(c)} </dev/null" for c in commands}
    )
    return {
        "floor (8 commands in the login shell)": (floor_script(), None),
        "jarvisctl script, as jarvisctl sends it": (work.command, work),
        "jarvisctl script under an outer `timeout .. sh -c 'sh -s'` (before e12676b)": (
            f"timeout -s TERM -k 2 257 sh -c {shlex.quote('sh -s')}",
            work,
        ),
        "jarvisctl script, every command under `timeout .. sh -c` (before aab6593)": (
            "sh -s",
            shell,
        ),
        "jarvisctl script, every command under `timeout` (before e642ae5)": ("sh -s", timed),
        "jarvisctl script, each command in a `{ ..; }` group": ("sh -s", bare),
    }


def host_cpu_once(fleet: BenchFleet, command: str, script: RemoteWork | None) -> float:
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
        stdin = script.for_one_host() if script else ""
        process.communicate(stdin.encode(), timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"{command[:60]!r} exited {process.returncode}")
    fleet.wait_idle()
    return fleet.host_cpu() - before


def measure_host_costs(
    fleet: BenchFleet, work: RemoteWork, repeat: int
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for name, (command, script) in variants(work).items():
        runs = [host_cpu_once(fleet, command, script) for _ in range(repeat)]
        median = statistics.median(runs)
        results[name] = {
            "host_cpu_seconds": round(median, 3),
            "per_host_ms": round(1000 * median / len(fleet.hosts), 2),
        }
    return results


def save(results: dict[str, dict[str, float]], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2) + "\n")
