"""bench/alerts/latency.py cannot rot: a tiny run (2 sshd hosts, 3 faults, a 2 s schedule)
measures every fault from the kill to the firing post, finds the daemon's detection in the
audit journal (the alert's startsAt is that record's time), and sees each repair told."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.alerts.latency import main, parse_args
from bench.fleet import sshd_unavailable_reason
from bench.pidns import pid_namespace_unavailable_reason

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_tiny_latency_run_measures_each_fault(tmp_path: Path) -> None:
    reason = sshd_unavailable_reason() or pid_namespace_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "latency.json"
    argv = ["--hosts", "2", "--faults", "3", "--every", "2", "--out", str(out)]
    argv += ["--keep", str(tmp_path / "work"), "--no-readme"]
    assert parse_args(argv).faults == 3
    assert main(argv) == 0
    result = json.loads(out.read_text())
    faults = result["faults"]
    assert [f["host"] for f in faults] == ["host1", "host2", "host1"]
    for fault in faults:
        assert fault["killed"] < fault["detected"] < fault["received"]
        assert abs(fault["startsat_minus_detected"]) < 0.002  # startsAt is the check's time
        assert 0 <= fault["phase"] < 2 + 1  # within the cycle (a cycle may start late)
        assert fault["derived"] is not None and fault["queued"] is not None
        assert fault["sent"] is not None and fault["queued"] <= fault["sent"] + 0.001
        assert fault["repaired"] < fault["resolved_received"]
    assert result["posts"]["firing"] == 3  # one firing notification per fault
    assert result["posts"]["total"] == 6  # and one resolved per repair
    assert result["daemon_exit"] == 0
    figures = result["figures"]
    assert figures["fault_to_delivery"]["count"] == 3
    assert figures["detection_to_delivery"]["max"] == max(
        f["detection_to_delivery"] for f in faults
    )
