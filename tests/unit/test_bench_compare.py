"""bench/compare_report.py: the side-by-side figures are medians, spreads and head/base ratios of
the runs as measured, per round too, and the README section is rewritten in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.compare_report import END, START, render, summarize, update_readme


def _run(wall: float, cpu: float, rss: float, round_: int) -> dict[str, float]:
    return {
        "wall_seconds": wall,
        "controller_cpu_seconds": cpu,
        "peak_rss_mib": rss,
        "host_cpu_seconds": 1.4,
        "other_cpu_seconds": 0.1,
        "output_kib": 420.0,
        "round": round_,
    }


SAMPLES = {
    "base": [_run(1.0, 0.50, 60.0, 0), _run(1.2, 0.60, 60.0, 1), _run(1.1, 0.55, 61.0, 2)],
    "head": [_run(1.1, 0.50, 57.0, 0), _run(1.2, 0.45, 57.0, 1), _run(0.9, 0.66, 58.0, 2)],
}


def test_medians_spread_and_ratios() -> None:
    summary = summarize(SAMPLES)
    wall = summary["wall_seconds"]
    assert wall["base"] == {"median": 1.1, "min": 1.0, "max": 1.2}
    assert wall["head"] == {"median": 1.1, "min": 0.9, "max": 1.2}
    assert wall["ratio_of_medians"] == 1.0
    # per round: 1.1/1.0, 1.2/1.2, 0.9/1.1
    assert wall["ratio_per_round"] == {"median": 1.0, "min": 0.8182, "max": 1.1}
    assert summary["controller_cpu_seconds"]["ratio_of_medians"] == pytest.approx(0.5 / 0.55, 1e-3)
    assert summary["peak_rss_mib"]["ratio_of_medians"] == 0.95
    assert summary["runs"] == {"base": 3, "head": 3}


def _doc() -> dict[str, Any]:
    return {
        "started": "2026-12-03T18:50:00+00:00",
        "command": "python -m bench.compare --base 8c4458a --head HEAD -n 50 --repeat 3",
        "results_file": "bench/results/compare-20261203T185000Z.json",
        "hosts": 50,
        "settings": {"repeat": 3, "warmup": 1},
        "versions": {
            "base": {"ref": "8c4458a", "commit": "8c4458a", "subject": "before"},
            "head": {"ref": "HEAD", "commit": "abc1234", "subject": "after"},
        },
        "machine": {
            "python": "3.11.7",
            "kernel": "6",
            "cpus": "2",
            "cpu_model": "AMD EPYC",
            "openssh-server": "1:9.2p1",
        },
        "loadavg_at_start": ["1.0", "1.0", "1.0"],
        "loadavg_at_end": ["2.0", "1.0", "1.0"],
        "summary": summarize(SAMPLES),
    }


def test_table_shows_each_figure_and_ratio() -> None:
    text = render(_doc())
    assert "| metric | base 8c4458a | head abc1234 | head/base, medians |" in text
    assert "| wall | 1.10 s (1.00-1.20) | 1.10 s (0.90-1.20) | 1.00 | 1.00 (0.82-1.10) |" in text
    assert "| peak RSS | 60.0 MiB (60.0-61.0) | 57.0 MiB (57.0-58.0) | 0.95 |" in text
    assert "| `run --json` output | 420 KiB (420-420) | 420 KiB (420-420) | 1.00 |" in text
    assert "2 cores (AMD EPYC), shared by the controller and the 50 sshd hosts" in text


def test_readme_section_replaced_in_place(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{START}\nold table\n{END}\nafter\n")
    update_readme(readme, "new table\n")
    assert readme.read_text() == f"before\n{START}\nnew table\n\n{END}\nafter\n"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="compare:start"):
        update_readme(readme, "x")
