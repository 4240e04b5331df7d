"""Render a daemon benchmark result into bench/daemon/README.md, between the results markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

START, END = "<!-- results:start -->", "<!-- results:end -->"
CORE_SHARE = 10.0  # percent of one core, at most
RATIO = 5.0  # fresh ÷ pooled controller CPU per cycle, at least
IDLE_RSS = 80.0  # MiB
RECOVERY = 45.0  # seconds, with a 30 s schedule
HOTSPOTS = 12


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _rows(doc: dict[str, Any]) -> list[str]:
    idle, pooled, fresh = doc["idle"], doc["pooled"], doc["fresh"]
    n, every, checks = doc["hosts"], doc["interval"], doc.get("checks", 8)
    walls = ", ".join(f"{w:g}" for w in pooled.get("cycle_wall_all", []))
    share = pooled.get("core_share_percent", 100 * pooled["cycle_cpu"] / every)
    within = pooled.get("every_cycle_within_interval")
    rows = [
        "| what | figure | target |",
        "| --- | --- | --- |",
        f"| daemon idle RSS | {idle['rss_mib']} MiB | < {IDLE_RSS:g} MiB: "
        f"{_mark(idle['rss_mib'] < IDLE_RSS)} |",
        f"| daemon idle CPU | {idle['cpu_seconds_per_hour']} s per hour | |",
        f"| pooled cycle, {n} hosts x {checks} checks, forks {doc.get('forks', n)}: "
        "controller CPU (median of the cycles "
        f"after the first) | {pooled['cycle_cpu']} s (all: "
        f"{', '.join(f'{c:g}' for c in pooled['cycle_cpu_all'])} s; the first connects) | |",
        f"| controller CPU, share of one core, checking every {every} s | {share:.2f} % | "
        f"< {CORE_SHARE:g} %: {_mark(share < CORE_SHARE)} |",
        f"| cycle wall time (each cycle, from its journal) | {walls} s | every cycle within "
        f"{every} s: {_mark(bool(within)) if within is not None else '-'} |",
        f"| fresh `jarvisctl run` per cycle: controller CPU | {fresh['cycle_cpu']} s "
        f"(wall {fresh['cycle_wall']} s, peak RSS {fresh['peak_rss_mib']} MiB) | |",
        f"| fresh ÷ pooled controller CPU per cycle | {doc['ratio']}x | ≥ {RATIO:g}x: "
        f"{_mark(doc['ratio'] >= RATIO)} |",
        f"| daemon RSS after the cycles ({n} connections open) | {pooled['rss_mib']} MiB "
        f"(peak {pooled['peak_rss_mib']} MiB, {pooled.get('threads', '?')} threads) | |",
    ]
    if "failed_cycles" in pooled:
        failed = pooled["failed_cycles"]
        detail = "; ".join(
            f"cycle {f['cycle']}: {f['hosts']} hosts, e.g. {f['first'][0]}" for f in failed
        )
        rows.append(
            f"| cycles with a host not ok | {len(failed)} of {len(pooled['cycle_cpu_all'])}"
            + (f" ({detail})" if failed else "")
            + f" | none: {_mark(not failed)} |"
        )
        files = ", ".join(str(f) for f in pooled.get("open_files_after_each_cycle", []))
        rows.append(f"| the daemon's open files after each cycle | {files} | |")
    if "host_cpu_per_cycle" in pooled:
        rows.append(
            f"| hosts' CPU per pooled cycle (all {n} sshds, sessions, commands) | "
            f"{pooled['host_cpu_per_cycle']} s | |"
        )
    rec = doc.get("recovery")
    if rec:
        rec_every = doc.get("recovery_interval", every)
        rows.append(
            f"| fault → verified recovery, {rec_every} s schedule (max of {len(rec['seconds'])})"
            f" | {rec['max']} s (each: {', '.join(f'{s:g}' for s in rec['seconds'])} s) | "
            f"< {RECOVERY:g} s: {_mark(rec['max'] < RECOVERY)} |"
        )
    return rows


def _profile(doc: dict[str, Any]) -> list[str]:
    profile = doc["pooled"].get("profile")
    if not profile:
        return []
    sampled = profile["cpu_seconds_sampled"] or 1.0
    cycle = doc["pooled"]["cycle_cpu"]

    def row(name: str, seconds: float) -> str:
        share = seconds / sampled
        return f"| `{name}` | {100 * share:.1f} % | {share * cycle:.2f} s |"

    head = "| share of the samples | seconds of a pooled cycle |"
    lines = [
        "",
        f"Where the controller's CPU goes in a pooled cycle: py-spy on the daemon, every thread, "
        f"from the end of the measured cycles to the end of the next {profile['cycles']} "
        f"({profile['seconds']} s); each part's share of the samples, and that share of the "
        f"pooled cycle's {cycle} s.",
        "",
        f"| jarvisctl function (deepest own frame, with what it called outside jarvisctl) {head}",
        "| --- | --- | --- |",
    ]
    lines += [row(name, sec) for name, sec in profile["by_deepest_own_function"][:HOTSPOTS]]
    lines += ["", f"| samples without a jarvisctl frame, by what the thread runs {head}"]
    lines += ["| --- | --- | --- |"]
    lines += [row(name, sec) for name, sec in profile["without_own_frames_by_thread_start"][:6]]
    lines += ["", f"| jarvisctl stage on the stack (inclusive) {head}", "| --- | --- | --- |"]
    lines += [row(name, sec) for name, sec in profile.get("by_stage_inclusive", [])[:10]]
    return lines


def render(doc: dict[str, Any], results_file: Path) -> str:
    mode = doc.get("pid_namespace", "shared")
    hosts = (
        "each sshd host in a PID namespace of its own"
        if mode == "own"
        else "every sshd host in this machine's PID namespace"
    )
    load: tuple[list[str], list[str]] = (
        doc.get("loadavg_at_start") or [],
        doc.get("loadavg_at_end") or [],
    )
    head = (
        f"Measured {doc['started']} with `{doc['command'].strip()}` → `{results_file}`"
        + (f" ({doc['jarvisctl']})" if doc.get("jarvisctl") else "")
        + f"; {hosts}"
        + (
            f"; load average {' '.join(load[0])} at the start, {' '.join(load[1])} at the end"
            if all(load)
            else ""
        )
        + "."
    )
    return "\n".join([START, head, "", *_rows(doc), *_profile(doc), END])


def update_readme(readme: Path, doc: dict[str, Any], results_file: Path) -> None:
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(head + render(doc, results_file) + tail)
