"""Render a daemon benchmark result into bench/daemon/README.md, between the results markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(doc: dict[str, Any], results_file: Path) -> str:
    idle, pooled, fresh, rec = doc["idle"], doc["pooled"], doc["fresh"], doc["recovery"]
    n, every = doc["hosts"], doc["interval"]
    rows = [
        "| what | figure | target |",
        "| --- | --- | --- |",
        f"| daemon idle RSS | {idle['rss_mib']} MiB | < 80 MiB: {_mark(idle['rss_mib'] < 80)} |",
        f"| daemon idle CPU | {idle['cpu_seconds_per_hour']} s per hour | |",
        f"| daemon RSS after {n}-host cycles (connections open) | {pooled['rss_mib']} MiB "
        f"(peak {pooled['peak_rss_mib']} MiB) | |",
        f"| pooled cycle, {n} hosts x 8 commands: controller CPU | {pooled['cycle_cpu']} s "
        f"(first cycle, connecting: {pooled['first_cycle_cpu']} s) | |",
        f"| fresh `jarvisctl run` per cycle: controller CPU | {fresh['cycle_cpu']} s | |",
        f"| fresh ÷ pooled CPU per cycle | {doc['ratio']}x | ≥ 3x: {_mark(doc['ratio'] >= 3)} |",
        f"| cycle wall time, pooled / fresh | {pooled['cycle_wall']} s / "
        f"{fresh['cycle_wall']} s | |",
        f"| controller CPU per hour checking every {every} s, pooled / fresh | "
        f"{pooled['cpu_seconds_per_hour']} s / {fresh['cpu_seconds_per_hour']} s | |",
        f"| fault → verified recovery, {every} s schedule (max of {len(rec['seconds'])}) | "
        f"{rec['max']} s (each: {', '.join(f'{s:g}' for s in rec['seconds'])} s) | "
        f"< 45 s: {_mark(rec['max'] < 45)} |",
    ]
    return "\n".join(
        [
            START,
            f"Measured {doc['started']} with `{doc['command'].strip()}` → `{results_file}`.",
            "",
            *rows,
            END,
        ]
    )


def update_readme(readme: Path, doc: dict[str, Any], results_file: Path) -> None:
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(head + render(doc, results_file) + tail)
