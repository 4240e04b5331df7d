"""Medians, ratios against jarvisctl, the issue's targets, and the Markdown table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = ("wall_seconds", "controller_cpu_seconds", "peak_rss_mib", "host_cpu_seconds")
OPTIONAL = ("other_cpu_seconds",)  # absent from results of older versions
TARGET_SIZE = "50"
START, END = "<!-- results:start -->", "<!-- results:end -->"


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


def targets(summary: dict[str, dict[str, dict[str, float]]]) -> list[Target]:
    """The issue's "Must reach" list, judged on the medians at N = 50."""
    at = summary.get(TARGET_SIZE, {})

    def get(tool: str, metric: str) -> float | None:
        return at[tool][metric] if tool in at else None

    def ratio(text: str, top: tuple[str, str], bottom: tuple[str, str], ok: Any) -> Target:
        a, b = get(*top), get(*bottom)
        if a is None or b is None or b == 0:
            return Target(text, "not measured", None)
        value = a / b
        return Target(text, f"{value:.2f}x", bool(ok(value)))

    wall = "wall_seconds"
    rss = get("jarvisctl", "peak_rss_mib")
    return [
        ratio(
            "≥ 25x faster than ansible-playbook (forks = N, pipelining)",
            ("ansible_pipelining", wall),
            ("jarvisctl", wall),
            lambda v: v >= 25,
        ),
        ratio("≥ 2x faster than pyinfra", ("pyinfra", wall), ("jarvisctl", wall), lambda v: v >= 2),
        ratio(
            "wall ≤ 1.5x the curve25519 floor's",
            ("jarvisctl", wall),
            ("ssh_curve25519", wall),
            lambda v: v <= 1.5,
        ),
        ratio(
            "host-side CPU ≤ 1.2x the floor's (default key exchange, the issue's 2.2 s)",
            ("jarvisctl", "host_cpu_seconds"),
            ("ssh_default_kex", "host_cpu_seconds"),
            lambda v: v <= 1.2,
        ),
        ratio(
            "host-side CPU ≤ 1.2x the curve25519 floor's (same key exchange as jarvisctl)",
            ("jarvisctl", "host_cpu_seconds"),
            ("ssh_curve25519", "host_cpu_seconds"),
            lambda v: v <= 1.2,
        ),
        Target(
            "peak controller memory < 120 MiB",
            "not measured" if rss is None else f"{rss:.1f} MiB",
            None if rss is None else rss < 120,
        ),
    ]


def _times(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def _other(row: dict[str, float]) -> str:
    value = row.get("other_cpu_seconds")
    return "n/a" if value is None else f"{value:.2f} s"


def size_table(size: str, rows: dict[str, dict[str, float]], labels: dict[str, str]) -> str:
    base = rows.get("jarvisctl")
    head = (
        f"#### N = {size} hosts\n\n"
        "| tool | wall (min-max) | x | controller CPU | x | peak RSS | host CPU | x | other CPU "
        "| runs |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    lines = []
    for key, row in rows.items():

        def rel(metric: str, row: dict[str, float] = row) -> str:
            return _times(row[metric], base[metric]) if base else "-"

        lines.append(
            f"| {labels.get(key, key)} "
            f"| {row['wall_seconds']:.2f} s ({row['wall_min']:.2f}-{row['wall_max']:.2f}) "
            f"| {rel('wall_seconds')} "
            f"| {row['controller_cpu_seconds']:.2f} s | {rel('controller_cpu_seconds')} "
            f"| {row['peak_rss_mib']:.0f} MiB "
            f"| {row['host_cpu_seconds']:.2f} s | {rel('host_cpu_seconds')} "
            f"| {_other(row)} | {row['runs']:.0f} |"
        )
    return head + "\n".join(lines) + "\n"


def render(document: dict[str, Any]) -> str:
    labels: dict[str, str] = document["labels"]
    parts = [
        f"Measured {document['started'][:16].replace('T', ' ')} UTC with "
        f"`{document['command']}` → `{document['results_file']}`. Medians; "
        "x = the tool's value divided by jarvisctl's at the same N; other CPU = the machine's busy "
        "CPU during the run less the tool's and the hosts' (the probe's start, the benchmark's "
        "polling, anything else running: a large value means the run was disturbed).\n",
        *(size_table(size, rows, labels) for size, rows in document["summary"].items()),
        "#### Targets (issue 3, at N = 50)\n\n| target | measured | |\n| --- | --- | --- |\n"
        + "".join(
            f"| {t['target']} | {t['measured']} | "
            f"{'-' if t['passed'] is None else ('PASS' if t['passed'] else 'FAIL')} |\n"
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
    return "\n".join(parts)


def update_readme(readme: Path, table: str) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} section")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    readme.write_text(f"{before}{START}\n{table}\n{END}{after}")
