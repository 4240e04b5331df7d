"""The side-by-side comparison's figures: medians, spread, head/base ratios, the README table.

Two ratios per metric: of the medians, and the median of the per-round ratios (each round runs
both versions back to back, so a round's ratio is little touched by the machine's drift); the
per-round ratios' min and max show how far a single pair can stray.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

METRICS = {
    "wall_seconds": ("wall", "s", 2),
    "controller_cpu_seconds": ("controller CPU (user+sys, whole tree)", "s", 2),
    "peak_rss_mib": ("peak RSS", "MiB", 1),
    "host_cpu_seconds": ("host CPU (all 50 sshds)", "s", 2),
    "other_cpu_seconds": ("other CPU (the machine's, less the run's and the hosts')", "s", 2),
    "output_kib": ("`run --json` output", "KiB", 0),
}
START, END = "<!-- compare:start -->", "<!-- compare:end -->"


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def summarize(samples: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Per version and metric: median, min, max; per metric: head/base of the medians and of
    each round (median, min, max)."""
    base, head = samples["base"], samples["head"]
    summary: dict[str, Any] = {"runs": {"base": len(base), "head": len(head)}}
    for metric in METRICS:
        if not all(metric in s for s in base + head):
            continue  # measured since (output_kib)
        b, h = [s[metric] for s in base], [s[metric] for s in head]
        per_round = [x / y for x, y in zip(h, b, strict=True) if y > 0]
        medians = _spread(b)["median"], _spread(h)["median"]
        summary[metric] = {
            "base": _spread(b),
            "head": _spread(h),
            "ratio_of_medians": round(medians[1] / medians[0], 3) if medians[0] > 0 else None,
            "ratio_per_round": _spread(per_round) if per_round else None,
        }
    return summary


def _figure(spread: dict[str, float], unit: str, digits: int) -> str:
    return (
        f"{spread['median']:.{digits}f} {unit} "
        f"({spread['min']:.{digits}f}-{spread['max']:.{digits}f})"
    )


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _round_ratio(spread: dict[str, float] | None) -> str:
    if spread is None:
        return "-"
    return f"{spread['median']:.2f} ({spread['min']:.2f}-{spread['max']:.2f})"


def table(doc: dict[str, Any]) -> str:
    versions, summary = doc["versions"], doc["summary"]
    head = (
        f"| metric | base {versions['base']['commit']} | head {versions['head']['commit']} "
        "| head/base, medians | head/base, per round |\n| --- | --- | --- | --- | --- |\n"
    )
    rows = []
    for metric, (label, unit, digits) in METRICS.items():
        if metric not in summary:
            continue
        row = summary[metric]
        label = label.replace("50", str(doc["hosts"]))
        rows.append(
            f"| {label} | {_figure(row['base'], unit, digits)} "
            f"| {_figure(row['head'], unit, digits)} | {_ratio(row['ratio_of_medians'])} "
            f"| {_round_ratio(row['ratio_per_round'])} |\n"
        )
    return head + "".join(rows)


def render(doc: dict[str, Any]) -> str:
    versions, machine = doc["versions"], doc["machine"]
    runs = doc["summary"]["runs"]
    return "\n".join(
        [
            f"Measured {doc['started'][:16].replace('T', ' ')} UTC with `{doc['command']}` → "
            f"`{doc['results_file']}`: N = {doc['hosts']}, medians of {runs['base']} runs "
            f"each (min-max), after {doc['settings']['warmup']} untimed run(s) each.\n",
            "- base: "
            f"{versions['base']['commit']} ({versions['base']['ref']}): "
            f"{versions['base']['subject'][:90]}",
            f"- head: {versions['head']['commit']} ({versions['head']['ref']}): "
            f"{versions['head']['subject'][:90]}\n",
            table(doc),
            f"Machine: {machine['cpus']} cores ({machine['cpu_model']}), shared by the "
            f"controller and the {doc['hosts']} sshd hosts and by whatever else ran (load "
            f"average {' '.join(doc['loadavg_at_start'])} at the start, "
            f"{' '.join(doc.get('loadavg_at_end', ['?']))} at the end); Python "
            f"{machine['python']}, kernel {machine['kernel']}, openssh-server "
            f"{machine['openssh-server']}.\n",
        ]
    )


def update_readme(readme: Path, text: str) -> None:
    content = readme.read_text()
    if START not in content or END not in content:
        raise ValueError(f"{readme} has no {START} ... {END} section")
    before, rest = content.split(START, 1)
    after = rest.split(END, 1)[1]
    readme.write_text(f"{before}{START}\n{text}\n{END}{after}")
