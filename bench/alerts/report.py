"""The alert benchmarks' figures as Markdown, between their markers in bench/README.md."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.alerts.common import REPO

README = REPO / "bench" / "README.md"
RESULTS = REPO / "bench" / "results"

Measure = Callable[[argparse.Namespace, Path], dict[str, Any]]
Render = Callable[[dict[str, Any], str], str]


def run_and_record(
    args: argparse.Namespace, name: str, measure: Measure, render: Render
) -> dict[str, Any]:
    """One benchmark run (in --keep DIR, else a scratch directory), its results written to
    --out or bench/results/NAME-<UTC time>.json and, unless --no-readme, rendered into the
    README between NAME's markers; the results' figures printed (lists left out)."""
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = measure(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as scratch:
            result = measure(args, Path(scratch))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"{name}-{stamp}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    if not args.no_readme:
        bench = REPO / "bench"
        shown = out.resolve().relative_to(bench) if out.resolve().is_relative_to(bench) else out
        update_readme(name, render(result, str(shown)))
    figures = {k: v for k, v in result["figures"].items() if not k.endswith("_list")}
    print(json.dumps(figures, indent=1))
    print(f"results: {out}", file=sys.stderr)
    return result


def update_readme(name: str, section: str, readme: Path = README) -> None:
    """Replace what is between `<!-- NAME:start -->` and `<!-- NAME:end -->`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        raise ValueError(f"{readme} has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{section}\n{end}{tail}")


def _load(result: dict[str, Any]) -> str:
    before = " ".join(result["machine_before"]["loadavg"])
    after = " ".join(result["machine_after"]["loadavg"])
    return f"load average {before} before, {after} after ({result['machine_before']['cpus']} CPUs)"


def _stat(figure: dict[str, float]) -> str:
    return " | ".join(f"{figure[k]:.3f} s" for k in ("median", "p95", "max"))


def render_latency(result: dict[str, Any], out: str) -> str:
    figures, route = result["figures"], result["route"]
    every = result["every"]
    stages = figures["stages"]
    lines = [
        f"Measured {result['measured_at']} with `{result['command']}` → `{out}`: "
        f"{result['hosts']} hosts, a `tcp_port` check every {every:g} s, "
        f"{figures['fault_to_delivery']['count']} faults; route `group_by: "
        f"{route['group_by']}`, `group_wait: {route['group_wait']}`, `group_interval: "
        f"{route['group_interval']}`; {_load(result)}.",
        "",
        "| per fault | median | p95 | max | goal |",
        "| --- | --- | --- | --- | --- |",
    ]
    goals = figures["goals"]
    d2d, f2d = figures["detection_to_delivery"], figures["fault_to_delivery"]
    met = "met" if goals["detection_to_delivery_max_below_5s"] else "**missed**"
    lines.append(f"| detection → delivery | {_stat(d2d)} | < 5 s: {met} |")
    met = "met" if goals["fault_to_delivery_max_below_every_plus_5s"] else "**missed**"
    lines.append(f"| fault → delivery | {_stat(f2d)} | < {every + 5:g} s: {met} |")
    for name, label in (
        ("fault_to_detection", "fault → detection (the schedule's wait)"),
        ("detection_to_alert_derived", "detection → `alert_firing` logged"),
        ("derived_to_queued", "`alert_firing` → `notification_queued` (group_wait)"),
        ("queued_to_sent_logged", "`notification_queued` → `notification_sent`"),
        ("repair_to_resolved_delivery", "repair → resolved notification received"),
    ):
        if name in stages:
            lines.append(f"| {label} | {_stat(stages[name])} | |")
    posts = result["posts"]
    lines += [
        "",
        f"Notifications received: {posts['firing']} firing, {posts['total'] - posts['firing']} "
        f"resolved; the alert's `startsAt` equals the journal's detection time in every fault "
        f"(largest difference {max(abs(f['startsat_minus_detected']) for f in result['faults'])}"
        " s).",
    ]
    return "\n".join(lines)


def render_accuracy(result: dict[str, Any], out: str) -> str:
    figures, route = result["figures"], result["route"]
    checks = "; ".join(
        f"`{c['name']}` warn {c['warn']:g}, crit {c['crit']:g}, clear {c['clear']:g}, "
        f"for {c['for']} (as {c['as in']})"
        for c in result["checks"]
    )
    events = ", ".join(f"{n} {k}" for k, n in sorted(figures["events"].items()))
    lines = [
        f"Measured {result['measured_at']} with `{result['command']}` → `{out}` in "
        f"{result['seconds']:g} s: {result['hosts']} hosts, {result['series']} series, up to "
        f"{result['cycles_run']} cycles each, every {result['every']:g} s; {checks}; route "
        f"`group_by: {route['group_by']}`, `group_wait: {route['group_wait']}`, "
        f"`group_interval: {route['group_interval']}`; {_load(result)}.",
        "",
        f"Scenario: {events}.",
        "",
        "| figure | value | goal |",
        "| --- | --- | --- |",
    ]
    precision, recall = figures["precision"], figures["recall"]
    for label, value in (("precision", precision), ("recall", recall)):
        met = "met" if value is not None and value > 0.95 else "**missed**"
        shown = "n/a" if value is None else f"{value * 100:.1f} %"
        lines.append(f"| {label} | {shown} | > 95 %: {met} |")
    lines += [
        f"| faults told / faults | {figures['faults_told']} / {figures['faults']} | |",
        f"| alerts sent: true / false | {figures['true_alerts']} / {figures['false_alerts']} | |",
        f"| fluctuations told / fluctuations | {figures['fluctuations_told']} / "
        f"{figures['fluctuations']} | 0 |",
        f"| faults told whose alerts were resolved after the repair | "
        f"{figures['resolved_after_repair']} / {figures['faults_told']} | all |",
        f"| notifications received: firing / resolved | {figures['notifications']['firing']} / "
        f"{figures['notifications'].get('resolved', 0)} | |",
    ]
    delays = figures["firing_cycle_within_fault"]
    shown = "; ".join(
        f"{k}: " + ", ".join(f"{n} ({count})" for n, count in v.items())
        for k, v in sorted(delays.items())
    )
    lines += [
        "",
        f"Faults told, by band: {_counts(figures['faults_told_by_band'])}; fluctuations told, "
        f"by kind: {_counts(figures['fluctuations_told_by_kind'])}.",
        "",
        "The cycle of its fault at which each fault's first alert fired (cycle: faults), by "
        f"`for` and band: {shown}.",
    ]
    problems = figures["false_alert_list"] + figures["missed_list"]
    problems += figures["resolution_problem_list"]
    if problems:
        lines += ["", "Misses, false alerts and resolution problems:", ""]
        for found in figures["missed_list"]:
            lines.append(f"- missed: {_event(found)}")
        for found in figures["false_alert_list"]:
            lines.append(f"- false alert ({found['why']}): {_event(found)}")
        for found in figures["resolution_problem_list"]:
            lines.append(f"- {found['why']}: {_event(found)}")
    else:
        lines += ["", "No miss, no false alert, no resolution problem."]
    return "\n".join(lines)


def _counts(found: dict[str, str]) -> str:
    return ", ".join(f"{kind} {told}" for kind, told in found.items())


def _event(found: dict[str, Any]) -> str:
    text = f"{found['host']} `{found['check']}`"
    if "event" in found:
        level = f" ({found['level']})" if found.get("level") else ""
        text += f" {found['event']}{level} from cycle {found['cycles'][0]}: {found['values']}"
    if "severity" in found:
        text += f"; alert {found['severity']} fired at cycle {found['fired_at_cycle']}"
    return text
