"""Generated careless and hostile variants of the shipped playbooks/rollout.yml (tasks, a
rollout, steps with a template copy) are accepted or refused with located errors, never a
crash, with the mutations of tests/hostile_inputs.py: keys deleted, misspelt or retyped, deep
nesting, shared and recursive aliases, control characters, torn lines, bytes that are not
UTF-8. Each variant is written beside the original, so that the copy's `src` resolves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import copy_project, plan_in_process
from tests.hostile_inputs import Target, mutated_text

EXAMPLES = int(os.environ.get("JARVIS_FUZZ_EXAMPLES", "150"))
DEADLINE = 10.0
TARGET = Target(
    "rollout",
    "playbooks/fuzz-rollout.yml",
    ("playbooks/rollout.yml",),
    ("playbooks/fuzz-rollout.yml", "-i", "inventory/jetson-fleet.yml"),
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("generated-steps") / "project")
    (root / TARGET.path).write_text((root / "playbooks/rollout.yml").read_text())
    outcome = plan_in_process(TARGET.args, root, DEADLINE)
    assert outcome.exit_code == 0, outcome.stderr  # the unmutated playbook plans
    return root


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_generated_rollouts_are_accepted_or_located(data: st.DataObject, project: Path) -> None:
    content = data.draw(mutated_text(TARGET), label="content")
    (project / TARGET.path).write_bytes(content)
    outcome = plan_in_process(TARGET.args, project, DEADLINE)
    verdict = outcome.verdict(project)
    assert verdict in ("valid", "located"), (
        f"{verdict}\ncontent: {content[:3000]!r}\nstderr: {outcome.stderr[-3000:]}"
    )
