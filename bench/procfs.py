"""Small /proc readers: CPU time of a process and its reaped children, parent pids."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (which may contain spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_with_reaped_children(pid: int) -> float:
    """utime + stime + cutime + cstime of a live process, in seconds.

    cutime/cstime grow when the process reaps a child, by that child's own time and everything
    the child had reaped in turn: for an sshd listener, every finished connection's whole
    process tree (rexec'd sshd, privilege-separated child, the session's shell and commands).
    """
    fields = _stat_fields(pid)
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def parent_of(pid: int) -> int | None:
    try:
        return int(_stat_fields(pid)[1])
    except (OSError, ValueError, IndexError):
        return None  # gone already


def children_of(parents: set[int]) -> set[int]:
    """Live processes whose parent is one of `parents` (this kernel has no /proc/PID/children)."""
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and parent_of(int(entry.name)) in parents:
            found.add(int(entry.name))
    return found


def machine_busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def tree_cpu(roots: set[int]) -> float:
    """CPU seconds of `roots` and every live process below them, each with what it reaped:
    what a fleet's hosts have spent so far, their open connections included (a listener's own
    counters grow by a connection's CPU only once that connection has ended)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            parent = parent_of(int(entry.name))
            if parent is not None:
                parents[int(entry.name)] = parent
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, list(roots)
    while todo:
        pid = todo.pop()
        try:
            total += cpu_with_reaped_children(pid)
        except OSError:
            continue  # ended meanwhile: its CPU is in its parent's counters from now on
        todo.extend(children.get(pid, ()))
    return total
