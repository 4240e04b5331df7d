"""bench/rollout.py's scenario cannot rot silently: the project it writes plans as the benchmark
says (batches 1, 5, 44 of 50 hosts, 4 steps with retries, the gate), its faults are the seeded
share of the round's step executions, and a round run for real on local hosts updates every host
with each armed fault absorbed by a retry, which the report finds in the run's journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bench.rollout import expected_log, journal
from bench.rollout_report import (
    absorbed_faults,
    host_timings,
    percentile,
    render,
    round_figures,
    summarize,
    update_readme,
)
from bench.rollout_scenario import (
    CHECK,
    FAULTY_STEPS,
    PLAYBOOK,
    Scenario,
    choose_faults,
    inspect_host,
    prepare_round,
    write_project,
)
from jarvisctl.cli.main import cli


def local_project(tmp_path: Path, count: int) -> tuple[Scenario, list[str]]:
    hosts = [f"host{n}" for n in range(1, count + 1)]
    inventory = {"all": {"hosts": {h: {"ansible_connection": "local"} for h in hosts}}}
    scenario = Scenario(tmp_path / "project", tmp_path / "hosts")
    write_project(scenario, inventory, hosts)
    return scenario, hosts


def jarvisctl(project: Path, *args: str) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        return CliRunner().invoke(cli, [*args, "-c", str(project / "jarvisctl.yml")])


def test_the_scenario_plans_as_the_benchmark_says(tmp_path: Path) -> None:
    scenario, hosts = local_project(tmp_path, 50)
    done = jarvisctl(scenario.project, "plan", PLAYBOOK, "--json")
    assert done.exit_code == 0, done.output
    plan = json.loads(done.stdout)
    assert plan["ok"] is True
    (play,) = plan["playbooks"][0]["plays"]
    rollout = play["rollout"]
    assert [len(batch) for batch in rollout["batches"]] == [1, 5, 44]
    assert rollout["gate"] == [CHECK]
    assert [h["host"] for h in play["hosts"]] == hosts
    first = play["hosts"][0]
    assert [s["kind"] for s in first["steps"]] == ["copy", "run", "run", "run"]
    assert {s["retries"] for s in first["steps"]} == {2}
    assert {s["delay_seconds"] for s in first["steps"]} == {0.0}
    assert len(first["rollback"]) == 2
    assert all(len(h["steps"]) == 4 for h in play["hosts"])


def test_faults_are_a_seeded_tenth_of_the_step_executions_on_run_steps() -> None:
    hosts = [f"host{n}" for n in range(1, 51)]
    faults = choose_faults(hosts, 7)
    assert faults == choose_faults(hosts, 7)
    assert faults != choose_faults(hosts, 8)
    assert len(faults) == len(set(faults)) == 20  # 10 % of 50 hosts x 4 steps
    assert {step for _, step in faults} <= set(FAULTY_STEPS)


def test_a_round_on_local_hosts_absorbs_every_fault(tmp_path: Path) -> None:
    scenario, hosts = local_project(tmp_path, 4)
    faults = [("host1", 2), ("host3", 4), ("host4", 3)]
    prepare_round(scenario, hosts, "1.7", faults)
    done = jarvisctl(scenario.project, "run", PLAYBOOK, "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    for host in hosts:
        seen = inspect_host(scenario, host)
        assert (seen.current, seen.faults_left) == ("1.7", 0)
        assert list(seen.log) == expected_log(host, set(faults))
    records = journal(scenario.project, document["run_id"])
    assert absorbed_faults(records) == sorted(faults)
    timings = host_timings(records)
    assert sorted(timings) == hosts
    for timing in timings.values():
        assert timing["turn"] >= timing["steps"] >= timing["step_commands"] > 0
        assert timing["overhead"] == pytest.approx(timing["turn"] - timing["step_commands"])
        assert timing["gates"] > 0
    assert round_figures(timings, "host1")["canary"] == timings["host1"]


def _round(updated: int, overhead: float, variant: str = "gate") -> dict[str, Any]:
    times = {name: overhead for name in ("connect", "turn", "step_commands", "steps", "gates")}
    timing = {**times, "overhead": overhead, "bookkeeping": 0.01}
    return {
        "variant": variant,
        "updated": updated,
        "faults_injected": 20,
        "faults_absorbed": 20,
        "step_executions": 200,
        "wall_seconds": 10.0,
        "controller_cpu_seconds": 5.0,
        "peak_rss_mib": 80.0,
        "host_cpu_seconds": 3.0,
        "figures": round_figures({"host1": timing, "host2": timing}, "host1"),
    }


def test_summary_goals_and_readme_section(tmp_path: Path) -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.95) == 5.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    doc = {
        "hosts": 50,
        "rounds": [
            _round(50, 0.2),
            _round(50, 0.05, "nogate"),
            _round(50, 0.3),
            _round(49, 0.6),
            _round(50, 0.04, "nogate"),
        ],
        "started": "2026-12-04T05:30:00+00:00",
        "command": "python -m bench.rollout",
        "results_file": "bench/results/rollout-x.json",
        "commit": "abc1234 x",
        "jarvisctl": "jarvisctl 0.1.0",
        "settings": {"batches": [1, "10%", "100%"], "forks": 50, "warmup": 1, "ref": "HEAD"},
        "loadavg_at_start": ["1", "1", "1"],
    }
    summary = summarize(doc)
    gate, nogate = summary["variants"]["gate"], summary["variants"]["nogate"]
    assert gate["faults_injected"] == gate["faults_absorbed"] == 60
    assert gate["timings"]["overhead"]["median"]["median"] == 0.3
    assert nogate["timings"]["overhead"]["median"] == {"median": 0.045, "min": 0.04, "max": 0.05}
    goals = summary["goals"]
    assert goals["hosts updated > 99 % (every round, every variant)"] is False  # 49 of 50
    assert goals["overhead per host <= 0.5 s (median over hosts)"] is True  # of the gate's
    doc["summary"] = summary
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- rollout:start -->\nold\n<!-- rollout:end -->\nb\n")
    update_readme(readme, render(doc))
    text = readme.read_text()
    assert "| per round | with the gate | without the gate |" in text
    assert "| hosts updated | 50 / 50 (min 49) | 50 / 50 (min 50) |" in text
    assert "old" not in text and text.startswith("a\n") and text.endswith("b\n")
