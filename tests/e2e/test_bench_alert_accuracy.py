"""bench/alerts/accuracy.py cannot rot: a tiny scenario (2 sshd hosts, 2 checks each, one fault
and two fluctuations per series, a 1 s schedule) runs through a real daemon; every value the
journal records is the scenario's; every fault (seed 9's are in one band each) is told once,
with its band's severity, at its `for`-th cycle, and resolved after its repair; no fluctuation
is told."""

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
    argv = ["--hosts", "2", "--faults", "1", "--fluctuations", "2", "--every", "1", "--seed", "9"]
    argv += ["--group-wait", "0s", "--group-interval", "1s", "--out", str(out), "--no-readme"]
    assert main([*argv, "--keep", str(tmp_path / "work")]) == 0
    result = json.loads(out.read_text())
    figures = result["figures"]
    assert (figures["faults"], figures["fluctuations"]) == (4, 8)
    assert figures["faults_told_by_band"] == {"critical": "2/2", "warning": "2/2"}
    assert (figures["precision"], figures["recall"]) == (1.0, 1.0)
    assert figures["false_alert_list"] == [] and figures["missed_list"] == []
    assert figures["resolution_problem_list"] == [] and figures["resolved_after_repair"] == 4
    assert figures["notifications"] == {"firing": 4, "resolved": 4}
    assert figures["firing_cycle_within_fault"] == {
        "for 2, warning": {"2": 2},  # the fault's 2nd cycle past warn
        "for 3, critical": {"3": 2},
    }
    assert result["daemon_exit"] == 0
    # the series were consumed on the hosts, one value per check run
    for series in result["scenario"]:
        counter = tmp_path / "work" / "series" / series["host"]
        name = series["check"].replace(" ", "-")
        assert int((counter / f"{name}.n").read_text()) >= len(series["values"])
