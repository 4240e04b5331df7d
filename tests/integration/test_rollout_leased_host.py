"""A host of the rollout whose lease another run holds when the rollout's run starts is not
worked on by that run (engine/runner.py skips it): the rollout must not then say it finished
with that host still pending. It is deferred, and a resume updates it once it is free."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jarvisctl.store.factory import open_store
from jarvisctl.store.leases import Holder, LeaseStore
from tests.integration.test_rollout_local import HOSTS, Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


def test_a_host_leased_by_another_run_is_deferred_not_left_pending(project: Project) -> None:
    project.write({"batches": [2]})
    project.run("--check")  # creates the state directory
    holder = Holder("another-run", "daemon", pid=os.getpid())  # a live holder: this test
    with open_store(project.root / "state") as store:
        leases = LeaseStore(store.leases, 600, time.time, lambda pid: True)
        assert leases.acquire(["h3"], holder).granted == ("h3",)
    project.run()
    status = project.status()
    hosts = {h["host"]: h for batch in status["batch_hosts"] for h in batch}
    assert hosts["h3"]["state"] == "deferred", hosts["h3"]
    assert status["state"] == "deferred", status
    assert project.read("h3", "version") == "1.0"
    with open_store(project.root / "state") as store:
        LeaseStore(store.leases, 600, time.time, lambda pid: True).release(["h3"], "another-run")
    done = project.jarvisctl("rollout", "resume", "last", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {project.read(h, "version") for h in HOSTS} == {"2.0"}
    assert project.status()["state"] == "finished"
