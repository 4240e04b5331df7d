"""The rollout benchmark's figures (bench/rollout.py): each host's turn and overhead from the
run's audit journal, the transient faults injected and absorbed, medians over the rounds, the
goals of issue 18 met or missed, and the README section.

A host's times, from its records in the journal (`at` is when the event was made, in the
host's own thread; the durations are the events' own `seconds`):

- connect: `host_connected.seconds` (TCP, key exchange, host key check, authentication);
- turn: from the host's last `check` record (its connection is open and the play's checks have
  run, as in any run) to its `rollout_host` record (its turn's end written to the store);
- step commands: the sum of the `seconds` of the host's Command records with purpose `step`
  (every command its steps ran, every attempt: a copy's probe, write and verify included);
- steps: the sum of its Step records' `seconds` (the step engine's own time around them);
- gates: the sum of its Gate records' `seconds` (before and after its steps);
- overhead = turn - step commands: what the rollout costs the host beyond what its steps ran;
  of which gates, the step engine (steps - step commands) and bookkeeping (turn - steps -
  gates: progress written to the store before and after every phase and step, events, and
  the turn's own code).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

START, END = "<!-- rollout:start -->", "<!-- rollout:end -->"
GOAL_UPDATED_SHARE = 0.99  # RFC 009: update success rate above 99 %
GOAL_OVERHEAD_SECONDS = 0.5  # issue 18: the rollout's own overhead per host
TIMINGS = ("connect", "turn", "step_commands", "steps", "gates", "overhead", "bookkeeping")


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def spread(values: Iterable[float], digits: int = 3) -> dict[str, float]:
    found = list(values)
    return {
        "median": round(statistics.median(found), digits),
        "min": round(min(found), digits),
        "max": round(max(found), digits),
    }


def host_timings(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each host's times (seconds, see the module's doc) from the run's journal records."""
    marks: dict[str, dict[str, float]] = {}
    for record in records:
        host, kind, data = record.get("host"), record["kind"], record.get("data") or {}
        if host is None:
            continue
        mark = marks.setdefault(
            host, {"step_commands": 0.0, "steps": 0.0, "gates": 0.0, "step_records": 0}
        )
        if kind == "host_connected":
            mark["connect"] = float(data["seconds"])
        elif kind == "check" and "gate_seen" not in mark:
            mark["checks_done"] = float(record["at"])  # the last one before its turn
        elif kind == "command" and data.get("purpose") == "step":
            mark["step_commands"] += float(data.get("seconds") or 0.0)
        elif kind == "step" and data.get("rollout"):
            mark["steps"] += float(data["seconds"])
            mark["step_records"] += 1
        elif kind == "gate":
            mark["gate_seen"] = 1
            mark["gates"] += float(data["seconds"])
        elif kind == "rollout_host":
            mark["turn_end"] = float(record["at"])
    timings: dict[str, dict[str, float]] = {}
    for host, mark in marks.items():
        if "turn_end" not in mark or "checks_done" not in mark:
            continue  # no turn (not reached) or no checks before it: not a measured turn
        turn = mark["turn_end"] - mark["checks_done"]
        timings[host] = {
            "connect": mark.get("connect", 0.0),
            "turn": turn,
            "step_commands": mark["step_commands"],
            "steps": mark["steps"],
            "gates": mark["gates"],
            "overhead": turn - mark["step_commands"],
            "bookkeeping": turn - mark["steps"] - mark["gates"],
        }
    return {h: {k: round(v, 4) for k, v in t.items()} for h, t in sorted(timings.items())}


def absorbed_faults(records: Iterable[dict[str, Any]]) -> list[tuple[str, int]]:
    """(host, 1-based step) of each rollout step that succeeded after a failed attempt."""
    found = []
    for record in records:
        data = record.get("data") or {}
        if record["kind"] != "step" or not data.get("rollout") or data["phase"] != "step":
            continue
        if data["attempts"] > 1 and data["outcome"] in ("ok", "changed"):
            found += [(record["host"], data["index"] + 1)] * (data["attempts"] - 1)
    return sorted(found)


def round_figures(timings: dict[str, dict[str, float]], canary: str) -> dict[str, Any]:
    """Median and p95 over the round's hosts of each timing, and the canary's own (alone in
    its batch, so with no other host's work on the controller's 2 cores)."""
    figures: dict[str, Any] = {}
    for name in TIMINGS:
        values = [t[name] for t in timings.values()]
        figures[name] = {
            "median": round(statistics.median(values), 4),
            "p95": round(percentile(values, 0.95), 4),
        }
    figures["canary"] = timings.get(canary, {})
    return figures


VARIANTS = {"gate": "with the gate", "nogate": "without the gate"}
# How the sshd hosts were started (bench/fleet.py); results made before the option say nothing,
# and were measured on one shared PID namespace.
PID_NAMESPACES = {
    "own": "each in its own PID namespace with its own /proc (bench/pidns.py)",
    "shared": "all in this machine's PID namespace, one /proc",
}
SHORT_NAMESPACES = {"own": "own PID namespaces", "shared": "one PID namespace"}


def pid_namespace(doc: dict[str, Any]) -> str:
    """ "own" (a PID namespace and /proc per host) or "shared" (the machine's, for all)."""
    mode: str = doc["settings"].get("pid_namespace", "shared")
    return mode


def compared(doc: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """`doc` carrying what the README's comparison needs of another measurement (the same
    bench in another mode): its results file, start, load, settings and summary."""
    keep = ("results_file", "started", "loadavg_at_start", "loadavg_at_end", "settings")
    return {
        **doc,
        "compared_with": {
            **{k: other[k] for k in keep if k in other},
            "summary": other.get("summary") or summarize(other),
        },
    }


def summarize_rounds(rounds: list[dict[str, Any]], hosts: int) -> dict[str, Any]:
    """One variant's figures over its rounds."""
    summary: dict[str, Any] = {
        "rounds": len(rounds),
        "hosts_updated": spread([r["updated"] for r in rounds], 0),
        "hosts_updated_min_share": min(r["updated"] for r in rounds) / hosts,
        "faults_injected": sum(r["faults_injected"] for r in rounds),
        "faults_absorbed": sum(r["faults_absorbed"] for r in rounds),
        "step_executions": sum(r["step_executions"] for r in rounds),
    }
    for metric in ("wall_seconds", "controller_cpu_seconds", "peak_rss_mib", "host_cpu_seconds"):
        summary[metric] = spread([r[metric] for r in rounds])
    summary["controller_cpu_per_host_ms"] = spread(
        [1000 * r["controller_cpu_seconds"] / hosts for r in rounds], 1
    )
    summary["host_cpu_per_host_ms"] = spread(
        [1000 * r["host_cpu_seconds"] / hosts for r in rounds], 1
    )
    summary["timings"] = {
        name: {
            "median": spread([r["figures"][name]["median"] for r in rounds]),
            "p95": spread([r["figures"][name]["p95"] for r in rounds]),
        }
        for name in TIMINGS
    }
    canary = [r["figures"]["canary"] for r in rounds if r["figures"]["canary"]]
    summary["canary"] = {name: spread([c[name] for c in canary]) for name in TIMINGS}
    return summary


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    """Each variant's figures; the goals are judged on the scenario as issue 18 states it (the
    gate on), or on the only variant measured."""
    variants: dict[str, Any] = {}
    for round_ in doc["rounds"]:
        variants.setdefault(round_.get("variant", "gate"), []).append(round_)
    summary = {name: summarize_rounds(rounds, doc["hosts"]) for name, rounds in variants.items()}
    judged = summary.get("gate") or next(iter(summary.values()))
    overhead = judged["timings"]["overhead"]
    goals = {
        "hosts updated > 99 % (every round, every variant)": all(
            v["hosts_updated_min_share"] > GOAL_UPDATED_SHARE for v in summary.values()
        ),
        "overhead per host <= 0.5 s (median over hosts)": (
            overhead["median"]["median"] <= GOAL_OVERHEAD_SECONDS
        ),
        "overhead per host <= 0.5 s (p95 over hosts)": (
            overhead["p95"]["median"] <= GOAL_OVERHEAD_SECONDS
        ),
    }
    return {"variants": summary, "goals": goals}


def _s(figure: dict[str, float], unit: str = " s", digits: int = 3) -> str:
    return (
        f"{figure['median']:.{digits}f}{unit} "
        f"({figure['min']:.{digits}f}-{figure['max']:.{digits}f})"
    )


LABELS = {
    "connect": "connect (before the turn)",
    "turn": "turn (checks done -> rollout_host)",
    "step_commands": "step commands",
    "steps": "steps (Step seconds)",
    "gates": "gates (before + after)",
    "overhead": "**overhead = turn - step commands**",
    "bookkeeping": "of which bookkeeping (turn - steps - gates)",
}


def render(doc: dict[str, Any]) -> str:
    variants, settings = doc["summary"]["variants"], doc["settings"]
    hosts = doc["hosts"]
    names = sorted(variants, key=lambda n: list(VARIANTS).index(n) if n in VARIANTS else 9)
    first = variants[names[0]]
    heads = " | ".join(VARIANTS.get(n, n) for n in names)
    rule = " --- |" * len(names)

    def row(label: str, cell: Any) -> str:
        return f"| {label} | " + " | ".join(cell(variants[n]) for n in names) + " |"

    lines = [
        f"Measured {doc['started'][:16].replace('T', ' ')} UTC with `{doc['command']}` → "
        f"`{doc['results_file']}` (commit {doc['commit'][:7]}, `{doc['jarvisctl']}`, "
        f"installed from {settings['ref']}): {hosts} sshd hosts on loopback, "
        f"{PID_NAMESPACES[pid_namespace(doc)]}, batches "
        f"`{json.dumps(settings['batches'])}`, `--forks "
        f"{settings['forks']}`, {first['rounds']} rounds of each variant, taking turns, after "
        f"{settings['warmup']} untimed round(s) of each; medians (min-max) over the rounds. "
        f"Load average {' '.join(doc['loadavg_at_start'])} at the start, "
        f"{' '.join(doc.get('loadavg_at_end', ['?']))} at the end.",
        "",
        f"| per round | {heads} |",
        f"| --- |{rule}",
        row(
            "hosts updated",
            lambda v: (
                f"{v['hosts_updated']['median']:.0f} / {hosts} "
                f"(min {v['hosts_updated']['min']:.0f})"
            ),
        ),
        row(
            "transient failures injected / absorbed by a retry (all rounds)",
            lambda v: (
                f"{v['faults_injected']} / {v['faults_absorbed']} "
                f"of {v['step_executions']} step executions"
            ),
        ),
        row("wall (`jarvisctl run`, whole process)", lambda v: _s(v["wall_seconds"])),
        row("controller CPU (user+sys)", lambda v: _s(v["controller_cpu_seconds"])),
        row("controller CPU per host", lambda v: _s(v["controller_cpu_per_host_ms"], " ms", 1)),
        row("controller peak RSS", lambda v: _s(v["peak_rss_mib"], " MiB", 1)),
        row(
            "host CPU per host (sshd, shells, commands)",
            lambda v: _s(v["host_cpu_per_host_ms"], " ms", 1),
        ),
        "",
        "Per host, in seconds: the median and the p95 over the hosts of a round, then the "
        "median (min-max) of those over the rounds; the canary, alone in batch 1:",
        "",
    ]
    for name in names:
        v = variants[name]
        lines += [
            f"{VARIANTS.get(name, name).capitalize()}:",
            "",
            "| per host | median over hosts | p95 over hosts | canary |",
            "| --- | --- | --- | --- |",
        ]
        for timing in TIMINGS:
            figure = v["timings"][timing]
            lines.append(
                f"| {LABELS[timing]} | {_s(figure['median'])} | {_s(figure['p95'])} | "
                f"{_s(v['canary'][timing])} |"
            )
        lines.append("")
    goals = doc["summary"]["goals"]
    lines.append(
        "Goals: " + "; ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in goals.items()) + "."
    )
    if "compared_with" in doc:
        lines += ["", *comparison(doc)]
    return "\n".join(lines) + "\n"


COMPARED: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    (
        "hosts updated (min over the rounds, of {hosts})",
        lambda v: f"{v['hosts_updated']['min']:.0f}",
    ),
    ("wall (`jarvisctl run`)", lambda v: _s(v["wall_seconds"])),
    ("host CPU per host", lambda v: _s(v["host_cpu_per_host_ms"], " ms", 1)),
    ("turn, median over hosts", lambda v: _s(v["timings"]["turn"]["median"])),
    ("gates, median over hosts", lambda v: _s(v["timings"]["gates"]["median"])),
    ("**overhead, median over hosts**", lambda v: _s(v["timings"]["overhead"]["median"])),
    ("**overhead, p95 over hosts**", lambda v: _s(v["timings"]["overhead"]["p95"])),
    ("overhead of the canary", lambda v: _s(v["canary"]["overhead"])),
)


def comparison(doc: dict[str, Any]) -> list[str]:
    """This measurement beside another one of the same bench (`compared`), variant by variant:
    the hosts in their own PID namespaces or in one."""
    other = doc["compared_with"]
    runs = [(pid_namespace(doc), doc["summary"]), (pid_namespace(other), other["summary"])]
    columns = [
        (f"{SHORT_NAMESPACES[mode]}, {VARIANTS.get(name, name)}", summary["variants"][name])
        for name in VARIANTS
        for mode, summary in runs
        if name in summary["variants"]
    ]
    rounds = other["summary"]["variants"]
    settings = other["settings"]
    lines = [
        f"Beside it, the same bench with the hosts {PID_NAMESPACES[pid_namespace(other)]}: "
        f"`{other['results_file']}`, measured {other['started'][:16].replace('T', ' ')} UTC, "
        f"`--forks {settings['forks']}`, "
        f"{next(iter(rounds.values()))['rounds']} rounds of each variant; load average "
        f"{' '.join(other['loadavg_at_start'])} at the start, "
        f"{' '.join(other.get('loadavg_at_end', ['?']))} at the end. Medians (min-max) over "
        "the rounds:",
        "",
        "| per round | " + " | ".join(label for label, _ in columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for label, cell in COMPARED:
        label = label.format(hosts=doc["hosts"])
        lines.append(f"| {label} | " + " | ".join(cell(v) for _, v in columns) + " |")
    return lines


def update_readme(readme: Path, section: str) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{section}\n{END}{tail}")
