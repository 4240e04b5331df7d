"""A secret in a rollout's step never reaches the rollout's durable progress: `rollout status`
runs in a process that does not know the secret (it reads the store, not the playbook), so
what the store keeps (a host's reason, a step's name) must be redacted when written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.test_rollout_local import Project

SECRET = "tok-5f1e9a7c"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


def test_a_secret_in_a_failed_step_is_not_in_rollout_status_nor_the_store(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_TOKEN", SECRET)
    step = {"run": "echo {{ env('APP_TOKEN') }} > /dev/null; exit 1"}
    project.write({"batches": [1]}, steps=[step])
    code, report = project.run()
    assert code != 0 and SECRET not in json.dumps(report)
    monkeypatch.delenv("APP_TOKEN")
    os.environ.pop("APP_TOKEN", None)
    for args in ((), ("--json",)):
        shown = project.jarvisctl("rollout", "status", "last", *args)
        assert shown.returncode == 0, shown.stderr
        assert SECRET not in shown.stdout + shown.stderr
    status = json.loads(project.jarvisctl("rollout", "status", "last", "--json").stdout)
    h1 = next(h for batch in status["batch_hosts"] for h in batch if h["host"] == "h1")
    assert "***" in h1["reason"], h1
    listed = project.jarvisctl("rollout", "list", "--json")
    assert SECRET not in listed.stdout
    stored = b"".join(p.read_bytes() for p in (project.root / "state").glob("state.db*"))
    assert SECRET.encode() not in stored
