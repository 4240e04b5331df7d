"""The 8 read-only commands every tool runs on every host (one source for all the tools)."""

from __future__ import annotations

# (name, shell command). Every one exits 0 on a healthy Linux host.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("disk", "df -P /"),
    ("meminfo", "cat /proc/meminfo"),
    ("loadavg", "cat /proc/loadavg"),
    ("uptime", "uptime"),
    ("tmp_dir", "test -d /tmp"),
    ("processes", "ls /proc | grep -c '^[0-9]'"),
    ("cpu_stat", "head -1 /proc/stat"),
    ("hostname", "hostname"),
)

# What the floor appends after each command so that its exit code can be checked.
RC_MARK = "@@bench-rc"


def floor_script() -> str:
    """All 8 commands for one remote shell, each followed by `@@bench-rc <exit code>`."""
    return "; ".join(f'{command}; echo "{RC_MARK} $?"' for _, command in COMMANDS)
