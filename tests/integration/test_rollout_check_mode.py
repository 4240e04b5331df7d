"""`run --check` of a rollout says what every host would do: a pause_after (which waits for an
operator's `rollout continue` of a recorded rollout) does not stop it after a batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_rollout_local import CANARY, HOSTS, Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


def test_check_mode_probes_every_batch_despite_pause_after(project: Project) -> None:
    project.write({**CANARY, "pause_after": [1]})
    _code, report = project.run("--check")
    probed = {h["host"] for h in report["hosts"] if h["steps"]}
    assert probed == set(HOSTS), report["hosts"]
    assert "rollout continue" not in str(report)
