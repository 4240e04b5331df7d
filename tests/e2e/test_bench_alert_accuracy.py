"""bench/alerts/accuracy.py cannot rot: a tiny scenario (2 sshd hosts, 2 checks each, one fault
and three fluctuations per series, a 1 s schedule) runs through a real daemon; every value the
journal records is the scenario's; every fault in one band is told once, with its severity, and
resolved after its repair; no fluctuation is told. (A fault around `crit` is scored, whichever
way it went: see bench/README.md for what jarvisctl does with one.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.alerts.accuracy import main
from bench.fleet import sshd_unavailable_reason
from bench.pidns import pid_namespace_unavailable_reason

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_tiny_accuracy_run_scores_every_alert(tmp_path: Path) -> None:
    reason = sshd_unavailable_reason() or pid_namespace_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "accuracy.json"
    argv = ["--hosts", "2", "--faults", "1", "--fluctuations", "3", "--every", "1"]
    argv += ["--group-interval", "2s", "--out", str(out), "--no-readme"]
    assert main([*argv, "--keep", str(tmp_path / "work")]) == 0
    result = json.loads(out.read_text())
    figures = result["figures"]
    assert (figures["faults"], figures["fluctuations"]) == (4, 12)
    assert figures["events"]["hover"] == 4
    bands = figures["faults_told_by_band"]
    assert bands["warning"] == "2/2" and bands["critical"] == "1/1"  # seed 9's tiny scenario
    assert figures["fluctuations_told"] == 0
    assert all(f["level"] == "around crit" for f in figures["false_alert_list"])
    assert all(f["level"] == "around crit" for f in figures["missed_list"])
    assert figures["resolution_problem_list"] == []
    told = figures["faults_told"]
    assert figures["resolved_after_repair"] == told == 4 - len(figures["missed_list"])
    assert figures["notifications"]["firing"] >= told
    assert figures["recall"] == told / 4
    cycles = figures["firing_cycle_within_fault"]
    assert cycles["for 2, warning"] == {"2": 2}  # at the 2nd cycle of each fault
    assert cycles["for 3, critical"] == {"3": 1}
    assert result["daemon_exit"] == 0
    # the series were consumed on the hosts, one value per check run
    for series in result["scenario"]:
        counter = tmp_path / "work" / "series" / series["host"]
        name = series["check"].replace(" ", "-")
        assert int((counter / f"{name}.n").read_text()) >= len(series["values"])
