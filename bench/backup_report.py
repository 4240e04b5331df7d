"""The backup benchmark's figures (bench/backup.py): medians and spread, throughput against the
floor per round, the three goals of issue 17 met or missed, and the README section."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

START, END = "<!-- backup:start -->", "<!-- backup:end -->"
MIB = 1024 * 1024
GOAL_RATIO = 0.8  # jarvisctl's throughput at least 0.8 x the floor's
GOAL_RSS_MIB = 150.0
GOAL_RESTORE_SECONDS = 300.0  # RFC 009: recovery under 5 minutes


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    size = doc["tree"]["bytes"]
    ours, floor = doc["samples"]["jarvisctl"], doc["samples"]["floor"]
    metrics = ("wall_seconds", "controller_cpu_seconds", "peak_rss_mib", "host_cpu_seconds")
    summary: dict[str, Any] = {
        "jarvisctl": {m: spread([s[m] for s in ours]) for m in (*metrics, "take_seconds")},
        "floor": {m: spread([s[m] for s in floor]) for m in metrics},
    }
    summary["jarvisctl"]["stored_mib"] = spread([s["stored_bytes"] / MIB for s in ours])
    summary["floor"]["stored_mib"] = spread([s["stored_bytes"] / MIB for s in floor])
    verify = [s["verify_seconds"] for s in ours if s.get("verify_seconds") is not None]
    if verify:
        summary["jarvisctl"]["verify_seconds"] = spread(verify)
    summary["throughput_mib_s"] = {
        "floor": spread([size / MIB / s["wall_seconds"] for s in floor]),
        "jarvisctl_run": spread([size / MIB / s["wall_seconds"] for s in ours]),
        "jarvisctl_take": spread([size / MIB / s["take_seconds"] for s in ours]),
    }
    pairs = list(zip(ours, floor, strict=True))
    # a round's ratio: the floor's time over jarvisctl's = jarvisctl's throughput / the floor's
    summary["ratio_run"] = spread([f["wall_seconds"] / o["wall_seconds"] for o, f in pairs])
    summary["ratio_take"] = spread([f["wall_seconds"] / o["take_seconds"] for o, f in pairs])
    restores = doc.get("restores") or [
        {"wall_seconds": float("nan"), "peak_rss_mib": 0.0, "controller_cpu_seconds": float("nan")}
    ]
    summary["restore"] = {
        "wall_seconds": spread([r["wall_seconds"] for r in restores]),
        "peak_rss_mib": spread([r["peak_rss_mib"] for r in restores]),
        "controller_cpu_seconds": spread([r["controller_cpu_seconds"] for r in restores]),
        "identical": restores[0].get("identical"),
    }
    summary["goals"] = {
        "throughput >= 0.8 x floor (whole run)": summary["ratio_run"]["median"] >= GOAL_RATIO,
        "throughput >= 0.8 x floor (transfer)": summary["ratio_take"]["median"] >= GOAL_RATIO,
        "peak RSS < 150 MiB": max(s["peak_rss_mib"] for s in ours) < GOAL_RSS_MIB,
        "full restore < 5 min": max(r["wall_seconds"] for r in restores) < GOAL_RESTORE_SECONDS,
    }
    return summary


def figure(values: dict[str, float], unit: str, digits: int = 2) -> str:
    return (
        f"{values['median']:.{digits}f} {unit} "
        f"({values['min']:.{digits}f}-{values['max']:.{digits}f})"
    )


def installed(ref: str) -> str:
    return "the project's .venv" if ref == "venv" else f"a wheel of {ref}"


def render(doc: dict[str, Any]) -> str:
    s, tree = doc["summary"], doc["tree"]
    ours, floor, put = s["jarvisctl"], s["floor"], s["throughput_mib_s"]
    rows = [
        ("wall", figure(ours["wall_seconds"], "s"), figure(floor["wall_seconds"], "s")),
        (
            "of which the transfer (the snapshot's own seconds)",
            figure(ours["take_seconds"], "s"),
            "",
        ),
        (
            "of which `verify: checksum`",
            figure(ours["verify_seconds"], "s") if "verify_seconds" in ours else "",
            "",
        ),
        (
            "throughput, whole run",
            figure(put["jarvisctl_run"], "MiB/s", 1),
            figure(put["floor"], "MiB/s", 1),
        ),
        ("throughput, transfer only", figure(put["jarvisctl_take"], "MiB/s", 1), ""),
        (
            "controller CPU (user+sys, whole tree)",
            figure(ours["controller_cpu_seconds"], "s"),
            figure(floor["controller_cpu_seconds"], "s"),
        ),
        (
            "controller peak RSS (largest process)",
            figure(ours["peak_rss_mib"], "MiB", 1),
            figure(floor["peak_rss_mib"], "MiB", 1),
        ),
        (
            "host CPU (sshd, tar, gzip)",
            figure(ours["host_cpu_seconds"], "s"),
            figure(floor["host_cpu_seconds"], "s"),
        ),
        ("stored", figure(ours["stored_mib"], "MiB", 1), figure(floor["stored_mib"], "MiB", 1)),
    ]
    lines = [
        f"Measured {doc['started'][:16].replace('T', ' ')} UTC with `{doc['command']}` → "
        f"`{doc['results_file']}` ({doc.get('jarvisctl', 'jarvisctl')}, installed as "
        f"{installed(doc['settings']['ref'])}): "
        f"a tree of {tree['files']} files in {tree['directories']} directories, "
        f"{tree['bytes'] / MIB:.0f} MiB, from one sshd host on loopback; medians of "
        f"{len(doc['samples']['jarvisctl'])} alternating rounds (min-max), after "
        f"{doc['settings'].get('warmup', 1)} untimed run(s) of each. Load average "
        f"{' '.join(doc['loadavg_at_start'])} at the start, "
        f"{' '.join(doc.get('loadavg_at_end', []))} at the end.",
        "",
        "| | jarvisctl run | floor: ssh 'tar \\| gzip -c' \\| cat > file |",
        "| --- | --- | --- |",
        *[f"| {name} | {a} | {b} |" for name, a, b in rows],
        "",
        f"Throughput, jarvisctl / floor per round: whole run {figure(s['ratio_run'], 'x')}, "
        f"transfer only {figure(s['ratio_take'], 'x')} (goal ≥ {GOAL_RATIO}).",
        f"Full restore of the tree (`backups restore HOST tree --to DIR`, "
        f"{len(doc['restores'])} runs): {figure(s['restore']['wall_seconds'], 's')}, "
        f"peak RSS {figure(s['restore']['peak_rss_mib'], 'MiB', 1)}, controller CPU "
        f"{figure(s['restore']['controller_cpu_seconds'], 's')}; the first restore "
        f"{'is identical to' if s['restore']['identical'] else 'DIFFERS from'} the source "
        "(diff -r).",
        "",
        "Goals: "
        + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in s["goals"].items())
        + ".",
    ]
    return "\n".join(lines)


def update_readme(readme: Path, text: str) -> None:
    content = readme.read_text()
    if START not in content or END not in content:
        raise ValueError(f"{readme} has no {START} ... {END} section")
    before, rest = content.split(START, 1)
    after = rest.split(END, 1)[1]
    readme.write_text(f"{before}{START}\n{text}\n{END}{after}")
