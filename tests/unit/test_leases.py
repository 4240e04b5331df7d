"""Host leases: claims, refusals, expiry, takeover, renewal, and a run skipping a leased host."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jarvisctl.app.run import RunContext, RunRequest, run_playbooks
from jarvisctl.config.project import load_project
from jarvisctl.core.events import HOST_SKIPPED, LEASE_TAKEOVER, Collector
from jarvisctl.core.results import Outcome
from jarvisctl.store.factory import open_store
from jarvisctl.store.leases import (
    Holder,
    LeaseStore,
    hold_leases,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def leases(tmp_path: Path, clock: Clock) -> LeaseStore:
    return LeaseStore(open_store(tmp_path).leases, ttl=60.0, clock=clock)


def daemon_run(owner: str = "run-a") -> Holder:
    return Holder(owner, "daemon")


def test_a_free_host_is_granted_and_recorded(leases: LeaseStore) -> None:
    claim = leases.acquire(["web1", "web2"], daemon_run())
    assert claim.granted == ("web1", "web2") and not claim.refused and not claim.taken_over
    (first, _) = leases.leases()
    assert (first.host, first.holder.owner, first.holder.pid) == ("web1", "run-a", os.getpid())
    assert first.expires == 1060.0


def test_a_host_held_by_another_live_run_is_refused_with_the_holder(
    leases: LeaseStore, clock: Clock
) -> None:
    leases.acquire(["web1"], daemon_run("run-a"))
    clock.now += 20
    claim = leases.acquire(["web1", "web2"], Holder("run-b", "cli"))
    assert claim.granted == ("web2",)
    refused = claim.refused["web1"]
    assert refused.holder.owner == "run-a"
    assert refused.describe(clock.now).startswith("leased by daemon run run-a (pid ")
    assert "expires in 40s" in refused.describe(clock.now)


def test_the_same_run_may_claim_again(leases: LeaseStore) -> None:
    leases.acquire(["web1"], daemon_run())
    assert leases.acquire(["web1"], daemon_run()).granted == ("web1",)


def test_an_expired_lease_is_taken_over(leases: LeaseStore, clock: Clock) -> None:
    leases.acquire(["web1"], Holder("crashed", "cli", pid=os.getpid(), controller="elsewhere"))
    clock.now += 61
    claim = leases.acquire(["web1"], daemon_run("run-b"))
    assert claim.granted == ("web1",)
    assert claim.taken_over["web1"].holder.owner == "crashed"
    assert leases.leases()[0].holder.owner == "run-b"


def test_a_lease_of_a_dead_process_on_this_controller_is_taken_over_early(
    tmp_path: Path, clock: Clock
) -> None:
    store = LeaseStore(open_store(tmp_path).leases, 60.0, clock=clock, alive=lambda pid: False)
    store.acquire(["web1"], Holder("killed", "daemon", pid=os.getpid() + 1))
    claim = store.acquire(["web1"], daemon_run("run-b"))
    assert claim.granted == ("web1",) and "web1" in claim.taken_over


def test_a_live_lease_on_another_controller_is_respected_until_it_expires(
    tmp_path: Path, clock: Clock
) -> None:
    store = LeaseStore(open_store(tmp_path).leases, 60.0, clock=clock, alive=lambda pid: False)
    store.acquire(["web1"], Holder("ci-run", "ci", pid=4242, controller="ci-runner-7"))
    assert store.acquire(["web1"], daemon_run()).refused
    clock.now += 60
    assert store.acquire(["web1"], daemon_run()).granted == ("web1",)


def test_renew_extends_only_the_owners_leases(leases: LeaseStore, clock: Clock) -> None:
    leases.acquire(["web1"], daemon_run("run-a"))
    leases.acquire(["web2"], daemon_run("run-b"))
    clock.now += 30
    assert leases.renew(["web1", "web2"], "run-a") == 1
    expiry = {lease.host: lease.expires for lease in leases.leases()}
    assert expiry == {"web1": 1090.0, "web2": 1060.0}


def test_hold_leases_renews_while_held_and_releases_at_the_end(tmp_path: Path) -> None:
    store = LeaseStore(open_store(tmp_path).leases, ttl=0.3)
    events = Collector()
    with hold_leases(store, ["web1"], daemon_run(), events) as skipped:
        assert skipped == {}
        first = store.leases()[0].expires
        time.sleep(0.35)  # past the first expiry: only renewal keeps it ours
        (lease,) = store.leases()
        assert lease.expires > first
        assert store.acquire(["web1"], daemon_run("other")).refused
    assert store.leases() == []


def test_hold_leases_yields_refusals_with_their_holder_and_reports_takeovers(
    leases: LeaseStore, clock: Clock
) -> None:
    leases.acquire(["busy"], Holder("manual", "cli"))
    leases.acquire(["stale"], Holder("gone", "cli", controller="elsewhere"))
    clock.now += 30
    leases.renew(["busy"], "manual")
    clock.now += 40  # 'stale' expired 10 s ago; 'busy' was renewed
    events = Collector()
    with hold_leases(leases, ["busy", "stale"], daemon_run(), events) as skipped:
        assert list(skipped) == ["busy"]
        assert "leased by cli run manual" in skipped["busy"].reason
        assert skipped["busy"].owner == "manual" and skipped["busy"].source == "cli"
    (takeover,) = events.of_kind(LEASE_TAKEOVER)
    assert takeover.host == "stale"
    assert takeover.data["previous_owner"] == "gone" and takeover.data["expired"] is True
    assert takeover.data["expired_seconds_ago"] == 10.0
    assert [lease.host for lease in leases.leases()] == ["busy"]  # ours released


def test_a_run_skips_a_host_another_run_holds_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(
        "- name: p\n  hosts: all\n  checks:\n    - use: command\n      with: {command: 'echo 1'}\n"
    )
    project = load_project(start=tmp_path)
    other = LeaseStore(open_store(project.state_dir).leases, ttl=60.0)
    other.acquire(["localhost"], Holder("daemon-run", "daemon"))
    events = Collector()
    request = RunRequest(playbooks=(tmp_path / "play.yml",))
    report = run_playbooks(project, request, RunContext(events=events))
    (host,) = report.hosts
    assert host.outcome is Outcome.SKIPPED
    assert host.error.startswith("leased by daemon run daemon-run (pid ")
    (skip,) = events.of_kind(HOST_SKIPPED)  # one per play the host is in, with the holder
    assert (skip.host, skip.play, skip.data["owner"]) == ("localhost", "p", "daemon-run")
    assert skip.data["source"] == "daemon" and skip.data["reason"] == host.error
    assert [lease.holder.owner for lease in other.leases()] == ["daemon-run"]


def test_a_run_takes_and_releases_its_leases(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(
        "- name: p\n  hosts: all\n  checks:\n    - use: command\n      with: {command: 'echo 1'}\n"
    )
    project = load_project(start=tmp_path)
    report = run_playbooks(
        project, RunRequest(playbooks=(tmp_path / "play.yml",)), RunContext(events=Collector())
    )
    assert report.hosts[0].outcome is Outcome.OK
    assert LeaseStore(open_store(project.state_dir).leases, ttl=60.0).leases() == []
