"""What `jarvisctl run` sends to a host, seen from the host: the exec line and the script on stdin.

bench/ uses jarvisctl only through its public entry points (bench/README.md, "What bench may
use of jarvisctl"), so it does not import the module that composes the remote script. Instead
one real `jarvisctl run` of the benchmark's playbook goes to a one-host fleet whose sshd has a
`ForceCommand`: a small shell script that records `$SSH_ORIGINAL_COMMAND` and a copy of stdin,
then runs the original command on that stdin, so the run still succeeds (and is verified as
every timed run is). What is recorded is exactly what the jarvisctl being measured sends.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from bench.commands import COMMANDS
from bench.fleet import BenchFleet
from bench.measure import measure
from bench.peers import Peers
from bench.tools import BY_KEY

# Runs as the login shell's `-c` command; one directory per exec channel opened.
_RECORDER = """#!/bin/sh
d=$(mktemp -d {where}/exec.XXXXXX) || exit 97
printf '%s' "$SSH_ORIGINAL_COMMAND" >"$d/command"
tee "$d/stdin" | sh -c "$SSH_ORIGINAL_COMMAND"
"""
# The line before each command's in jarvisctl's script: the `printf` of its begin mark (the
# controller enforces each command's deadline since the watchdog: no `timeout` line any more).
_MARKS = re.compile(r"^printf '\\n@@J")
_END = "_je"  # the script's last line: its sweep
# The script's first line: the value every process it starts carries in its environment, by
# which its sweep finds and KILLs them.
_MARKER = re.compile(r"\A_jm=[0-9a-f]+\n")


@dataclass(frozen=True)
class RemoteWork:
    """jarvisctl's remote work for the benchmark's 8 commands, as one host received it."""

    command: str  # the exec line
    script: str  # its stdin

    @property
    def command_lines(self) -> list[int]:
        """Indexes of the script's lines that run one of the commands: each follows a line of
        marks and is neither marks nor the script's end."""
        lines = self.script.splitlines()
        return [
            i
            for i in range(1, len(lines))
            if _MARKS.match(lines[i - 1]) and not _MARKS.match(lines[i]) and lines[i] != _END
        ]

    def replace_commands(self, line_for: dict[str, str]) -> RemoteWork:
        """The script with each command's line replaced by `line_for[command]`."""
        lines = self.script.splitlines()
        for index, (_, command) in zip(self.command_lines, COMMANDS, strict=True):
            lines[index] = line_for[command]
        return RemoteWork(self.command, "\n".join(lines) + "\n")

    def for_one_host(self) -> str:
        """The script with a marker of its own, as jarvisctl gives each host: the fleet's hosts
        share one machine, and a script's sweep KILLs every process carrying its marker, so
        one script sent to all hosts would kill the other hosts' commands."""
        fresh, found = _MARKER.subn(f"_jm={secrets.token_hex(12)}\n", self.script, count=1)
        if found != 1:
            raise RuntimeError("jarvisctl's script no longer starts with its marker `_jm=...`")
        return fresh


def capture_remote_work(peers: Peers, work: Path) -> RemoteWork:
    """Run the benchmark's playbook once with `peers`' jarvisctl on a recording host."""
    fleet = BenchFleet(work / "fleet", 1)
    records = work / "records"
    records.mkdir(parents=True, exist_ok=True)
    recorder = work / "record.sh"
    recorder.write_text(_RECORDER.format(where=records))
    recorder.chmod(0o755)
    try:
        fleet.start()
        fleet.force_command(recorder)
        prepared = BY_KEY["jarvisctl"].prepare(fleet, work / "jarvisctl", peers)
        measure(fleet, prepared, work / "run", "jarvisctl (recording its remote work)")
    finally:
        fleet.stop()
    return _the_script(records)


def _the_script(records: Path) -> RemoteWork:
    """The one exec whose stdin runs all 8 commands (jarvisctl may open other channels)."""
    found = []
    for exec_dir in sorted(records.iterdir()):
        work = RemoteWork(
            (exec_dir / "command").read_text(), (exec_dir / "stdin").read_text(errors="replace")
        )
        if len(work.command_lines) == len(COMMANDS):
            found.append(work)
    if len(found) != 1:
        raise RuntimeError(f"expected one script of {len(COMMANDS)} commands, saw {len(found)}")
    return found[0]
