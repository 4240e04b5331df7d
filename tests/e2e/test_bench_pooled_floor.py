"""bench/daemon/pooled_floor.py: a bare paramiko client's pooled cycles over real sshd hosts,
each host's script the one jarvisctl composes, every end mark read back; its figures written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.daemon import pooled_floor
from bench.fleet import sshd_unavailable_reason

pytestmark = pytest.mark.e2e


def test_a_bare_pooled_cycle_is_measured_per_host(tmp_path: Path) -> None:
    reason = sshd_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    argv = ["--hosts", "3", "--forks", "2", "--cycles", "2", "--shared-pid-namespace"]
    assert pooled_floor.main([*argv, "--results", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("pooled-floor-*.json")
    result = json.loads(written.read_text())
    assert (result["hosts"], result["checks"], len(result["cycles"])) == (3, 20, 3)
    assert result["cycle_cpu"] > 0
    assert result["cpu_per_host_ms"] == round(result["cycle_cpu"] / 3 * 1000, 3)
