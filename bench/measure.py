"""One timed run of one tool against the fleet, through probe.py, plus host-side CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.fleet import BenchFleet
from bench.procfs import machine_busy_cpu
from bench.tools import Prepared, clean_environment

PROBE = Path(__file__).resolve().parent / "probe.py"
RUN_TIMEOUT = 900.0
TAIL = 2000


class ToolFailed(RuntimeError):
    """A tool did not succeed on every host: the benchmark stops rather than time it."""


@dataclass(frozen=True)
class Sample:
    wall_seconds: float
    controller_cpu_seconds: float
    peak_rss_mib: float
    host_cpu_seconds: float
    leftover_processes: int
    # Busy CPU of the whole machine over the run, less the tool's and the hosts': the probe's
    # own start (some 20 ms), the benchmark's polling, and anything else running at the time.
    other_cpu_seconds: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def run_probe(prepared: Prepared, run_dir: Path) -> tuple[dict[str, Any], str, str]:
    """Run the tool under probe.py: (probe's measurements, stdout, stderr)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    result, out, err = run_dir / "probe.json", run_dir / "stdout", run_dir / "stderr"
    argv = [sys.executable, str(PROBE), str(result), str(out), str(err), "--", *prepared.argv]
    subprocess.run(
        argv,
        cwd=prepared.cwd,
        env=clean_environment(prepared.env),
        check=True,
        timeout=RUN_TIMEOUT,
    )
    probe: dict[str, Any] = json.loads(result.read_text())
    return probe, out.read_text(errors="replace"), err.read_text(errors="replace")


def measure(fleet: BenchFleet, prepared: Prepared, run_dir: Path, label: str) -> Sample:
    fleet.wait_idle()
    machine_before, host_before = machine_busy_cpu(), fleet.host_cpu()
    probe, stdout, stderr = run_probe(prepared, run_dir)
    fleet.wait_idle()
    host_cpu = fleet.host_cpu() - host_before
    machine = machine_busy_cpu() - machine_before
    controller = probe["cpu_user_seconds"] + probe["cpu_system_seconds"]
    problems = prepared.verify(stdout, stderr, probe["exit_code"])
    if problems:
        shown = "\n".join(problems[:20])
        raise ToolFailed(
            f"{label} did not succeed on every host ({run_dir}):\n{shown}\n"
            f"--- stdout tail\n{stdout[-TAIL:]}\n--- stderr tail\n{stderr[-TAIL:]}"
        )
    return Sample(
        wall_seconds=probe["wall_seconds"],
        controller_cpu_seconds=controller,
        peak_rss_mib=probe["max_rss_kib"] / 1024,
        host_cpu_seconds=host_cpu,
        leftover_processes=probe["leftover_processes"],
        other_cpu_seconds=machine - controller - host_cpu,
    )
