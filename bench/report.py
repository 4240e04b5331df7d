"""Medians, jarvisctl as a multiple of each peer, growth with N, the issue's targets, and the
Markdown section of bench/README.md between the `results` markers."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = ("wall_seconds", "controller_cpu_seconds", "peak_rss_mib", "host_cpu_seconds")
OPTIONAL = ("other_cpu_seconds",)  # absent from results of older versions
TARGET_SIZE = "50"
LARGE_SIZE = "200"
START, END = "<!-- results:start -->", "<!-- results:end -->"
BASE = "jarvisctl"
FLOOR = "ssh_curve25519"
COLUMNS = (
    ("wall_seconds", "wall"),
    ("controller_cpu_seconds", "controller CPU"),
    ("host_cpu_seconds", "host CPU"),
    ("peak_rss_mib", "peak RSS"),
)

WHAT_THE_FIGURES_ARE = """\
What each figure is on this machine. *Wall*: from starting the tool to its own process's exit.
*Controller CPU*: user + system CPU of the tool's whole process tree (getrusage of the probe,
which reaps everything the tool left behind). *Host CPU*: the CPU all N sshd hosts spent for
the run (their listeners' own and reaped children's CPU: sshd's per-connection processes, the
shells, the commands, Ansible's remote Python). *Peak RSS*: the largest resident set of any one
process of the tool's tree (for Ansible and the floor one fork or one `ssh`, not their sum).
The N hosts are sshd processes on this same machine and share its 2 cores with the controller:
every second of host CPU is taken from the controller's cores, so wall time here is roughly
(controller CPU + host CPU) / 2 at best and grows with both; on a real fleet each host has its
own CPU and the wall time would be the controller's and the network's. Loopback has no latency,
which favours tools that make many round trips. *Other CPU*: the machine's busy CPU over the
run less the tool's and the hosts' (anything else running: a large value means the run was
disturbed)."""


def summarize(samples: list[dict[str, float]]) -> dict[str, float]:
    present = [m for m in (*METRICS, *OPTIONAL) if all(m in s for s in samples)]
    summary = {m: round(statistics.median(s[m] for s in samples), 4) for m in present}
    walls = [s["wall_seconds"] for s in samples]
    summary.update(wall_min=round(min(walls), 4), wall_max=round(max(walls), 4))
    summary["runs"] = len(samples)
    return summary


@dataclass(frozen=True)
class Target:
    text: str
    measured: str
    passed: bool | None  # None: not measured

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.text, "measured": self.measured, "passed": self.passed}


Summary = dict[str, dict[str, dict[str, float]]]  # N -> tool -> metric -> median


def _value(summary: Summary, size: str, tool: str, metric: str) -> float | None:
    row = summary.get(size, {}).get(tool)
    return None if row is None else row.get(metric)


def _ratio_target(
    text: str,
    top: float | None,
    bottom: float | None,
    ok: Callable[[float], bool],
) -> Target:
    if top is None or bottom is None or bottom == 0:
        return Target(text, "not measured", None)
    value = top / bottom
    return Target(text, f"{value:.2f}x", ok(value))


def targets(summary: Summary) -> list[Target]:
    """Issue 20's "Must reach" list for `jarvisctl run`, judged on the medians."""

    def at(size: str, tool: str, metric: str) -> float | None:
        return _value(summary, size, tool, metric)

    n, big = TARGET_SIZE, LARGE_SIZE
    wall, cpu, host = "wall_seconds", "controller_cpu_seconds", "host_cpu_seconds"
    growth = int(big) / int(n)
    rss = at(big, BASE, "peak_rss_mib")
    return [
        _ratio_target(
            f"N = {n}: wall ≥ 2x faster than pyinfra 3 (pyinfra ÷ jarvisctl)",
            at(n, "pyinfra", wall),
            at(n, BASE, wall),
            lambda v: v >= 2,
        ),
        _ratio_target(
            f"N = {n}: wall ≥ 30x faster than ansible-playbook, forks = N, pipelining "
            "(ansible ÷ jarvisctl)",
            at(n, "ansible_pipelining", wall),
            at(n, BASE, wall),
            lambda v: v >= 30,
        ),
        _ratio_target(
            f"N = {n}: wall ≤ 1.3x the OpenSSH floor's, curve25519 (jarvisctl ÷ floor)",
            at(n, BASE, wall),
            at(n, FLOOR, wall),
            lambda v: v <= 1.3,
        ),
        _ratio_target(
            f"N = {n}: host CPU ≤ 1.1x the floor's, curve25519 (jarvisctl ÷ floor)",
            at(n, BASE, host),
            at(n, FLOOR, host),
            lambda v: v <= 1.1,
        ),
        _ratio_target(
            f"N = {n}: controller CPU ≤ 1.2x the floor's, curve25519 (jarvisctl ÷ floor)",
            at(n, BASE, cpu),
            at(n, FLOOR, cpu),
            lambda v: v <= 1.2,
        ),
        _ratio_target(
            f"N = {big}: wall grows no faster than linearly from N = {n} "
            f"(N = {big} ÷ N = {n}, linear = {growth:.2f})",
            at(big, BASE, wall),
            at(n, BASE, wall),
            lambda v: v <= growth,
        ),
        _ratio_target(
            f"N = {big}: controller CPU grows no faster than linearly from N = {n} "
            f"(N = {big} ÷ N = {n}, linear = {growth:.2f})",
            at(big, BASE, cpu),
            at(n, BASE, cpu),
            lambda v: v <= growth,
        ),
        Target(
            f"N = {big}: peak RSS < 150 MiB",
            "not measured" if rss is None else f"{rss:.1f} MiB",
            None if rss is None else rss < 150,
        ),
    ]


def _other(row: dict[str, float]) -> str:
    value = row.get("other_cpu_seconds")
    return "n/a" if value is None else f"{value:.2f} s"


def size_table(size: str, rows: dict[str, dict[str, float]], labels: dict[str, str]) -> str:
    head = (
        f"#### N = {size} hosts\n\n"
        "| tool | wall (min-max) | controller CPU | host CPU | peak RSS | other CPU | runs |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    lines = [
        f"| {labels.get(key, key)} "
        f"| {row['wall_seconds']:.2f} s ({row['wall_min']:.2f}-{row['wall_max']:.2f}) "
        f"| {row['controller_cpu_seconds']:.2f} s | {row['host_cpu_seconds']:.2f} s "
        f"| {row['peak_rss_mib']:.1f} MiB | {_other(row)} | {row['runs']:.0f} |"
        for key, row in rows.items()
    ]
    return head + "\n".join(lines) + "\n\n" + ratio_table(rows, labels)


def ratio_table(rows: dict[str, dict[str, float]], labels: dict[str, str]) -> str:
    """jarvisctl's medians as a multiple of each peer's (below 1.00: jarvisctl's is smaller)."""
    base = rows.get(BASE)
    peers = [key for key in rows if key != BASE]
    if base is None or not peers:
        return ""
    head = (
        "jarvisctl's median ÷ the peer's, same N, same run (below 1.00: jarvisctl takes less):\n\n"
        "| jarvisctl ÷ | " + " | ".join(name for _, name in COLUMNS) + " |\n"
        "| --- |" + " --- |" * len(COLUMNS) + "\n"
    )
    lines = []
    for key in peers:
        cells = []
        for metric, _ in COLUMNS:
            peer = rows[key][metric]
            cells.append(f"{base[metric] / peer:.2f}" if peer else "-")
        lines.append(f"| {labels.get(key, key)} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def growth_table(summary: Summary, labels: dict[str, str]) -> str:
    """Each tool's medians at the largest N divided by those at N = 50 (linear: the ratio of
    the sizes)."""
    sizes = sorted(summary, key=int)
    if TARGET_SIZE not in summary or len(sizes) < 2 or sizes[-1] == TARGET_SIZE:
        return ""
    big = sizes[-1]
    linear = int(big) / int(TARGET_SIZE)
    head = (
        f"#### Growth from N = {TARGET_SIZE} to N = {big} (linear: {linear:.2f})\n\n"
        f"| N = {big} ÷ N = {TARGET_SIZE} | "
        + " | ".join(name for _, name in COLUMNS)
        + " |\n| --- |"
        + " --- |" * len(COLUMNS)
        + "\n"
    )
    lines = []
    for key, row in summary[big].items():
        small = summary[TARGET_SIZE].get(key)
        if small is None:
            continue
        cells = [
            f"{row[metric] / small[metric]:.2f}" if small[metric] else "-" for metric, _ in COLUMNS
        ]
        lines.append(f"| {labels.get(key, key)} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def _mark(passed: bool | None) -> str:
    return "-" if passed is None else ("PASS" if passed else "FAIL")


def _hosts_line(document: dict[str, Any]) -> str:
    mode = document.get("settings", {}).get("pid_namespace", "shared")
    if mode == "own":
        return (
            "each sshd host the init (pid 1) of a PID namespace with its own /proc "
            "(bench/pidns.py), so a host sees only its own processes, as separate machines do"
        )
    return "every sshd host in this machine's PID namespace and /proc (`--shared-pid-namespace`)"


def _skipped(document: dict[str, Any]) -> str:
    skipped = document.get("settings", {}).get("skip") or []
    if not skipped:
        return ""
    labels = document["labels"]
    listed = "; ".join(
        f"{labels.get(key, key)} at N = {size}" for key, size in (s.split("@") for s in skipped)
    )
    return f"Not measured (`--skip`): {listed}.\n"


def render(document: dict[str, Any]) -> str:
    labels: dict[str, str] = document["labels"]
    load = document.get("loadavg_at_start", [])
    end = document.get("loadavg_at_end", [])
    starts = document.get("fleet_start_seconds", {})
    parts = [
        f"Measured {document['started'][:16].replace('T', ' ')} UTC with "
        f"`{document['command']}` → `{document['results_file']}`: jarvisctl "
        f"{document['versions'].get('jarvisctl', '?')}; hosts: {_hosts_line(document)}. "
        f"Medians of {document['settings'].get('repeat')} timed runs per tool and N (after "
        f"{document['settings'].get('warmup')} untimed), the tools taking turns in each round. "
        + (f"Load average {' '.join(load)} at the start" if load else "")
        + (f", {' '.join(end)} at the end" if end else "")
        + (
            ". Fleet start-up: " + ", ".join(f"N = {n}: {s:.1f} s" for n, s in starts.items()) + "."
            if starts
            else "."
        )
        + "\n",
        WHAT_THE_FIGURES_ARE + "\n",
        *(size_table(size, rows, labels) for size, rows in document["summary"].items()),
        growth_table(document["summary"], labels),
        _skipped(document),
        "#### Must reach (issue 20)\n\n| target | measured | |\n| --- | --- | --- |\n"
        + "".join(
            f"| {t['target']} | {t['measured']} | {_mark(t['passed'])} |\n"
            for t in document["targets"]
        ),
        "Versions: "
        + "; ".join(f"{k} {v}" for k, v in document["versions"].items())
        + ".\n\nHost-side CPU accounting check (a session burning 1 s of CPU on one host): "
        + ", ".join(
            f"N = {n}: {c['listener_delta_seconds']:.2f} s seen"
            for n, c in document["host_cpu_check"].items()
        )
        + ".\n",
    ]
    if document.get("strict_check"):
        parts.append(
            "Strict host key checking, proven before timing: with host2's key left out of "
            "known_hosts, every tool failed on host2:\n\n"
            + "".join(f"- {key}: {text[:160]}\n" for key, text in document["strict_check"].items())
        )
    return "\n".join(part for part in parts if part)


def update_readme(readme: Path, table: str) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} section")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    readme.write_text(f"{before}{START}\n{table}\n{END}{after}")
