"""bench/run.py's table: jarvisctl as a multiple of each peer, growth from N = 50 to 200, issue
20's targets judged on the medians, what was skipped, how the hosts were started; and the
descriptor limit a large fleet needs."""

from __future__ import annotations

import resource

import pytest

import bench.fleet
from bench.fleet import ensure_descriptors
from bench.report import growth_table, ratio_table, render, targets
from bench.run import parse_args, tools_at
from bench.tools import BY_KEY, TOOLS


def row(wall: float, cpu: float, host: float, rss: float) -> dict[str, float]:
    return {
        "wall_seconds": wall,
        "controller_cpu_seconds": cpu,
        "host_cpu_seconds": host,
        "peak_rss_mib": rss,
        "wall_min": wall,
        "wall_max": wall,
        "runs": 5,
    }


SUMMARY = {
    "50": {
        "jarvisctl": row(1.0, 0.6, 1.1, 60.0),
        "pyinfra": row(2.5, 1.0, 2.0, 63.0),
        "ansible_pipelining": row(40.0, 17.0, 60.0, 68.0),
        "ssh_curve25519": row(0.8, 0.5, 1.0, 12.0),
    },
    "200": {
        "jarvisctl": row(4.4, 2.0, 4.4, 90.0),
        "pyinfra": row(10.0, 4.0, 8.0, 80.0),
        "ssh_curve25519": row(3.2, 2.0, 4.0, 12.0),
    },
}


def test_targets_are_judged_on_the_medians_at_50_and_200() -> None:
    found = {t.text: (t.measured, t.passed) for t in targets(SUMMARY)}
    texts = list(found)
    assert found[texts[0]] == ("2.50x", True)  # pyinfra 2.5 s / jarvisctl 1.0 s
    assert found[texts[1]] == ("40.00x", True)
    assert found[texts[2]] == ("1.25x", True)  # 1.0 / 0.8 <= 1.3
    assert found[texts[3]] == ("1.10x", True)  # host CPU 1.1 / 1.0
    assert found[texts[4]] == ("1.20x", True)  # controller CPU 0.6 / 0.5
    assert found[texts[5]] == ("4.40x", False)  # wall grew 4.4x for 4x the hosts
    assert found[texts[6]] == ("3.33x", True)
    assert found[texts[7]] == ("90.0 MiB", True)


def test_a_target_without_its_figures_is_not_measured() -> None:
    found = targets({"50": {"jarvisctl": row(1.0, 0.6, 1.1, 60.0)}})
    assert {(t.measured, t.passed) for t in found} == {("not measured", None)}


def test_jarvisctl_is_shown_as_a_multiple_of_each_peer() -> None:
    table = ratio_table(SUMMARY["50"], {})
    assert "| pyinfra | 0.40 | 0.60 | 0.55 | 0.95 |" in table
    assert "| ssh_curve25519 | 1.25 | 1.20 | 1.10 | 5.00 |" in table
    assert "| jarvisctl |" not in table


def test_growth_is_the_large_n_over_50_for_tools_measured_at_both() -> None:
    table = growth_table(SUMMARY, {})
    assert "linear: 4.00" in table
    assert "| jarvisctl | 4.40 | 3.33 | 4.00 | 1.50 |" in table
    assert "ansible_pipelining" not in table  # skipped at 200


def test_the_section_says_how_hosts_ran_and_what_was_skipped() -> None:
    doc = {
        "started": "2026-12-04T13:00:00+00:00",
        "command": "bench/run.py",
        "results_file": "bench/results/x.json",
        "versions": {"jarvisctl": "abc1234 (wheel of HEAD, compiled at install)"},
        "labels": {tool.key: tool.label for tool in TOOLS},
        "settings": {
            "repeat": 5,
            "warmup": 1,
            "pid_namespace": "own",
            "skip": ["ansible_pipelining@200"],
        },
        "loadavg_at_start": ["1.0", "1.0", "1.0"],
        "loadavg_at_end": ["9.0", "5.0", "2.0"],
        "fleet_start_seconds": {"50": 1.2, "200": 5.1},
        "summary": SUMMARY,
        "targets": [t.as_dict() for t in targets(SUMMARY)],
        "host_cpu_check": {"50": {"listener_delta_seconds": 1.01}},
    }
    text = render(doc)
    assert "own /proc" in text and "wheel of HEAD" in text
    assert (
        "Not measured (`--skip`): ansible-playbook, command tasks, forks = N, pipelining at N = 200"
        in text
    )
    assert "N = 200: 5.1 s" in text
    assert "at the end" in text and "9.0 5.0 2.0" in text
    assert "| FAIL |" in text and "share its 2 cores" in text
    doc["settings"]["pid_namespace"] = "shared"
    assert "--shared-pid-namespace" in render(doc)


def test_skip_leaves_a_tool_out_at_one_size_only() -> None:
    args = parse_args(["--skip", "ansible_pipelining@200"])
    assert args.own_pid_namespace is True
    tools = [BY_KEY["jarvisctl"], BY_KEY["ansible_pipelining"]]
    assert [t.key for t in tools_at(200, tools, args.skip)] == ["jarvisctl"]
    assert [t.key for t in tools_at(50, tools, args.skip)] == ["jarvisctl", "ansible_pipelining"]
    assert parse_args(["--shared-pid-namespace"]).own_pid_namespace is False


@pytest.mark.parametrize("bad", ["ansible@200", "jarvisctl@", "jarvisctl"])
def test_a_bad_skip_is_refused(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--skip", bad])
    assert "expected TOOL@N" in capsys.readouterr().err


def test_the_descriptor_limit_is_raised_or_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_to: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda _, limits: set_to.append(limits))
    assert ensure_descriptors(10) == 1024 and not set_to  # 10 hosts fit in 1024
    assert ensure_descriptors(200) == 200 * bench.fleet.FDS_PER_HOST + bench.fleet.FDS_MARGIN
    assert set_to == [(1856, 4096)]
    with pytest.raises(RuntimeError, match="hard limit is 4096"):
        ensure_descriptors(1000)
