"""`jarvisctl rollout list|status|abort` on a real project and a real SQLite store: rollouts
most recent first, one rollout batch by batch with each host's state, `last`, JSON valid against
its schema, clear errors with README's exit codes, and an abort recorded as a run whose journal
verifies."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli
from jarvisctl.store.factory import open_store
from jarvisctl.store.leases import Holder
from jarvisctl.store.rollouts import (
    HostState,
    Rollout,
    RolloutHost,
    RolloutState,
    StepState,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "jarvisctl/render/schemas"
LIST_SCHEMA = json.loads((SCHEMAS / "rollout-list.schema.json").read_text())
STATUS_SCHEMA = json.loads((SCHEMAS / "rollout-status.schema.json").read_text())
T0 = 1_796_000_000.0  # 2026-11-30
OLD = "20261130T000000Z-0001"
PAUSED = "20261201T000000Z-0002"  # the most recent: `last`
BATCHES = (("j1",), ("j2", "j3", "j4"), ("j5\x1b[31m",))


def rollout(rid: str, at: float, **changes: object) -> Rollout:
    fields: dict[str, object] = dict(
        id=rid,
        play="inference 1.4.2",
        playbook="site.yml",
        inventory=("inventory.yml",),
        limit=None,
        plan_digest="cd" * 32,
        batches=BATCHES,
        started_at=at,
        updated_at=at,
    )
    fields.update(changes)
    return Rollout(**fields)  # type: ignore[arg-type]


def make_state(state: Path) -> None:
    rollouts = open_store(state).rollouts
    rollouts.create(
        rollout(OLD, T0, state=RolloutState.FINISHED, batch=3, batches=(("j1",),)),
        [RolloutHost(OLD, "j1", 1, HostState.UPDATED, updated_at=T0)],
    )
    hosts = [RolloutHost(PAUSED, h, n) for n, batch in enumerate(BATCHES, 1) for h in batch]
    rollouts.create(rollout(PAUSED, T0 + 86400), hosts)
    at = T0 + 86400
    rollouts.set_host(PAUSED, "j1", HostState.IN_FLIGHT, at=at, phase="step", step=0, started=True)
    rollouts.step_started(PAUSED, "j1", "step", 0, "docker pull", at)
    rollouts.step_finished(PAUSED, "j1", "step", 0, StepState.DONE, "changed", at + 1)
    rollouts.set_host(PAUSED, "j1", HostState.UPDATED, at=at + 2)
    rollouts.set_host(PAUSED, "j2", HostState.IN_FLIGHT, at=at + 3, phase="step", step=1)
    rollouts.step_started(PAUSED, "j2", "step", 0, "docker pull", at + 3)
    rollouts.step_finished(PAUSED, "j2", "step", 0, StepState.DONE, "ok", at + 4)
    rollouts.step_started(PAUSED, "j2", "step", 1, "restart\nservice", at + 4)
    rollouts.set_host(
        PAUSED,
        "j3",
        HostState.DEFERRED,
        at=at + 5,
        reason="unreachable",
        deferred_until=at + 7 * 86400,
    )
    rollouts.set_host(PAUSED, "j4", HostState.ROLLED_BACK, at=at + 6, reason="gate", failed=True)
    rollouts.update(PAUSED, state=RolloutState.PAUSED, batch=2, reason="pause_after 2", at=at + 7)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yml").write_text("all:\n  hosts:\n    j1: {ansible_connection: local}\n")
    (tmp_path / "jarvisctl.yml").write_text("inventory: inventory.yml\n")
    make_state(tmp_path / ".jarvisctl")
    return tmp_path / "jarvisctl.yml"


def jarvisctl(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "-c", str(config)])


def test_list_shows_the_most_recent_first_with_counts(project: Path) -> None:
    done = jarvisctl(project, "rollout", "list")
    assert done.exit_code == 0, done.output
    header, paused, old = done.output.splitlines()
    assert header.split()[:4] == ["rollout", "play", "state", "batch"]
    assert paused.startswith(PAUSED) and "  paused  " in paused and " 2/3 " in paused
    assert paused.endswith(
        "1 updated, 1 rolled back, 1 deferred, 1 pending, 1 in flight; 1 counted as failed"
    )
    assert old.startswith(OLD) and old.endswith("1 updated")


def test_list_json_is_valid_and_counts_every_outcome(project: Path) -> None:
    done = jarvisctl(project, "rollout", "list", "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    jsonschema.validate(document, LIST_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert [r["id"] for r in document] == [PAUSED, OLD]
    newest = jarvisctl(project, "rollout", "list", "--json", "-n", "1")
    assert [r["id"] for r in json.loads(newest.output)] == [PAUSED]
    assert document[0]["counts"] == {
        "updated": 1,
        "unchanged": 0,
        "rolled back": 1,
        "rollback failed": 0,
        "deferred": 1,
        "skipped": 0,
        "pending": 1,
        "in flight": 1,
        "decision": 0,
    }


def test_list_of_an_empty_store_says_so(tmp_path: Path) -> None:
    (tmp_path / "jarvisctl.yml").write_text("{}\n")
    done = jarvisctl(tmp_path / "jarvisctl.yml", "rollout", "list")
    assert (done.exit_code, done.output) == (0, "no rollouts recorded\n")
    assert not (tmp_path / ".jarvisctl" / "state.db").exists()  # a reader creates nothing


def test_status_of_last_shows_each_batch_and_host(project: Path) -> None:
    done = jarvisctl(project, "rollout", "status", "last")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        f"rollout {PAUSED}  play 'inference 1.4.2'  paused after batch 2: pause_after 2",
        "  playbook site.yml  started 2026-12-01 00:53:20  updated 2026-12-01 00:53:27",
        "  hosts: 1 updated, 1 rolled back, 1 deferred, 1 pending, 1 in flight; "
        "1 counted as failed",
        "batch 1 (1 host)",
        "  j1  updated",
        "batch 2 (3 hosts)  <- current",
        "  j2  in flight  at step 2 'restart\\nservice'",  # names escaped: no row broken
        "  j3  deferred  until 2026-12-08 00:53:20: unreachable",
        "  j4  rolled back  (counted as failed): gate",
        "batch 3 (1 host)",
        "  j5\\x1b[31m  pending",
    ]


def test_status_json_is_valid_and_has_every_host_and_step(project: Path) -> None:
    done = jarvisctl(project, "rollout", "status", PAUSED[:12], "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    jsonschema.validate(document, STATUS_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert (document["id"], document["state"], document["failed"]) == (PAUSED, "paused", 1)
    assert [[h["host"] for h in batch] for batch in document["batch_hosts"]] == [
        ["j1"],
        ["j2", "j3", "j4"],
        ["j5\x1b[31m"],
    ]
    j2 = document["batch_hosts"][1][0]
    assert (j2["state"], j2["turn"], j2["phase"], j2["step"]) == ("in flight", None, "step", 1)
    assert [(s["index"], s["state"], s["outcome"]) for s in j2["steps"]] == [
        (0, "done", "ok"),
        (1, "started", None),
    ]
    assert document["batch_hosts"][1][2]["turn"] == "rolled back"
    assert document["holder"] is None


def test_an_unknown_or_ambiguous_id_is_a_usage_error(project: Path) -> None:
    unknown = jarvisctl(project, "rollout", "status", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: no rollout 'nope' in the store (`jarvisctl rollout")
    ambiguous = jarvisctl(project, "rollout", "status", "2026")
    assert ambiguous.exit_code == 2
    assert f"'2026' is the start of 2 rollout ids ({PAUSED}, {OLD})" in ambiguous.stderr
    assert "Traceback" not in unknown.output + ambiguous.output


def test_abort_of_a_paused_rollout_skips_the_hosts_not_started(project: Path) -> None:
    done = jarvisctl(project, "rollout", "abort", "last")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        f"rollout {PAUSED} aborted",
        "  skipped (not started): j3, j5\\x1b[31m",
        "  j2: left in flight at step 2: its turn had started and its steps may have partly run",
    ]
    store = open_store(project.parent / ".jarvisctl")
    aborted = store.rollouts.get(PAUSED)
    assert aborted.state is RolloutState.ABORTED and "jarvisctl rollout abort" in aborted.reason
    states = {h.host: (h.state, h.reason) for h in store.rollouts.hosts(PAUSED)}
    assert states["j3"] == (HostState.SKIPPED, "aborted")
    assert states["j5\x1b[31m"] == (HostState.SKIPPED, "aborted")
    assert states["j2"][0] is HostState.IN_FLIGHT and states["j1"][0] is HostState.UPDATED
    assert store.rollouts.leases.all() == []  # the abort's lease is released
    run_id = aborted.run_id
    assert f"recorded as run {run_id}" in done.stderr
    records = [json.loads(line) for line in journal(project, run_id).read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds == ["run_started", "rollout_host", "rollout_host", "rollout", "run_finished"]
    assert records[1]["host"] == "j3" and records[1]["data"]["reason"] == "aborted"
    assert records[3]["data"]["state"] == "aborted" and records[3]["play"] == "inference 1.4.2"
    verified = jarvisctl(project, "audit", "verify", run_id)
    assert verified.exit_code == 0, verified.output
    again = jarvisctl(project, "rollout", "abort", PAUSED)
    assert again.exit_code == 2
    assert again.stderr.startswith(f"error: rollout {PAUSED} has already ended: aborted at ")
    assert "only a rollout that is running, paused, deferred can be aborted" in again.stderr


def test_abort_leaves_a_host_deferred_in_the_middle_of_its_turn(project: Path) -> None:
    """A host that went away during its steps is deferred where it stood: its turn had
    started, so an abort leaves it as it is and names it (only a rollback may undo it), and
    `abort --rollback` would roll it back."""
    store = open_store(project.parent / ".jarvisctl")
    store.rollouts.set_host(
        PAUSED,
        "j3",
        HostState.DEFERRED,
        at=T0 + 86400 + 8,
        reason="unreachable during its turn",
        deferred_until=T0 + 9 * 86400,
        phase="step",
        step=1,
    )
    status = jarvisctl(project, "rollout", "status", PAUSED)
    assert "  j3  deferred  at step 2  until " in status.output, status.output
    done = jarvisctl(project, "rollout", "abort", PAUSED)
    assert done.exit_code == 0, done.output
    assert "  skipped (not started): j5\\x1b[31m" in done.stdout.splitlines()
    assert (
        "  j3: left deferred at step 2: its turn had started and its steps may have partly run"
        in done.stdout.splitlines()
    ), done.stdout
    states = {h.host: h.state for h in store.rollouts.hosts(PAUSED)}
    assert states["j3"] is HostState.DEFERRED


def journal(config: Path, run_id: str) -> Path:
    return config.parent / ".jarvisctl" / "runs" / f"{run_id}.jsonl"


def test_abort_is_refused_while_a_live_controller_works_on_the_rollout(project: Path) -> None:
    store = open_store(project.parent / ".jarvisctl")
    store.rollouts.leases.claim([PAUSED], Holder("run-live", "daemon"), 1.0, 4e9, lambda _: False)
    done = jarvisctl(project, "rollout", "abort", PAUSED)
    assert done.exit_code == 8, done.output
    assert f"error: not aborted: rollout {PAUSED} is being worked on: leased by daemon run " in (
        done.stderr
    )
    assert f"(pid {os.getpid()} on " in done.stderr
    assert store.rollouts.get(PAUSED).state is RolloutState.PAUSED  # nothing changed
    assert {h.state for h in store.rollouts.hosts(PAUSED)} >= {HostState.PENDING}
    status = jarvisctl(project, "rollout", "status", PAUSED)
    assert "  worked on now: leased by daemon run run-live (pid " in status.output


def test_abort_of_an_unknown_rollout_records_nothing(project: Path) -> None:
    done = jarvisctl(project, "rollout", "abort", "nope")
    assert done.exit_code == 2
    assert not (project.parent / ".jarvisctl" / "runs").exists()


def test_an_aborts_run_is_listed_and_reported(project: Path) -> None:
    done = jarvisctl(project, "rollout", "abort", "last")
    assert done.exit_code == 0, done.output
    run_id = open_store(project.parent / ".jarvisctl").rollouts.get(PAUSED).run_id
    runs = jarvisctl(project, "runs", "--json")
    assert runs.exit_code == 0, runs.output
    (entry,) = json.loads(runs.output)
    assert (entry["run_id"], entry["status"]) == (run_id, "ok")
    for form in ("md", "json"):
        report = jarvisctl(project, "report", run_id, "--format", form)
        assert report.exit_code == 0, report.output


def test_abort_takes_over_the_rollout_of_a_killed_controller(project: Path) -> None:
    """A controller killed mid-rollout left its lease, unexpired: its process is gone, so
    status does not call the rollout worked on, and abort takes the lease over (journaled)."""
    store = open_store(project.parent / ".jarvisctl")
    dead = Holder("run-killed", "cli", pid=dead_pid())
    store.rollouts.leases.claim([PAUSED], dead, 1.0, 4e9, lambda _: False)
    status = jarvisctl(project, "rollout", "status", PAUSED)
    assert status.exit_code == 0 and "worked on now" not in status.output
    done = jarvisctl(project, "rollout", "abort", PAUSED)
    assert done.exit_code == 0, done.output
    run_id = store.rollouts.get(PAUSED).run_id
    records = [json.loads(line) for line in journal(project, run_id).read_text().splitlines()]
    (takeover,) = [r for r in records if r["kind"] == "lease_takeover"]
    assert takeover["data"]["previous_owner"] == "run-killed"
    assert store.rollouts.leases.all() == []


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
