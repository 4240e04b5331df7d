"""The pieces bench/ uses at scale: addresses for more hosts than one /24 holds, the hosts' CPU
with connections open, a journal's last record read from its end, where a profile's time goes
(by stage of the package, and by the deepest jarvisctl function of each py-spy sample), and the
daemon bench's table against issue 20's targets."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.bookkeeping import inclusive_by_stage, is_bookkeeping, spy_bookkeeping, stage_of
from bench.daemon.driver import ALL_COMMANDS, _last_record
from bench.daemon.report import render
from bench.fleet import addresses, connect_timeout
from bench.procfs import cpu_with_reaped_children, tree_cpu
from bench.stacks import hotspots

SITE = "/v/lib/python3.11/site-packages"


def test_500_hosts_get_distinct_valid_loopback_addresses() -> None:
    found = addresses(500, random.Random(20))
    assert len(set(found)) == 500
    blocks = {address.rsplit(".", 1)[0] for address, _ in found}
    assert len(blocks) == 2  # 250 hosts a /24
    for address, port in found:
        assert ipaddress.ip_address(address).is_loopback and 0 < port < 65536
    assert {int(a.rsplit(".", 1)[1]) for a, _ in found} == set(range(1, 251))


def test_tree_cpu_counts_live_children_that_the_parent_has_not_reaped() -> None:
    burn = "import time\nwhile time.process_time() < 0.5: pass\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", burn])
    try:
        deadline = time.monotonic() + 20
        while cpu_with_reaped_children(child.pid) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        me = cpu_with_reaped_children(os.getpid())
        assert tree_cpu({os.getpid()}) - me >= 0.4  # the child's, not yet in our cutime
    finally:
        child.kill()
        child.wait()


def test_the_last_record_is_read_from_the_end_and_a_partial_line_is_none(tmp_path: Path) -> None:
    journal = tmp_path / "run.jsonl"
    big = {"kind": "check", "data": "x" * 200_000}
    journal.write_text(json.dumps(big) + "\n" + json.dumps({"kind": "run_finished"}) + "\n")
    assert _last_record(journal) == {"kind": "run_finished"}
    journal.write_text(json.dumps(big) + "\n")
    assert _last_record(journal) == big  # one line longer than the first chunk read
    with journal.open("a") as handle:
        handle.write('{"kind": "run_fin')
    assert _last_record(journal) is None


def test_twenty_distinct_commands_for_the_daemon_checks() -> None:
    assert len(ALL_COMMANDS) == 20
    assert len({name for name, _ in ALL_COMMANDS}) == 20


def test_stage_of_a_file_in_an_install_or_a_py_spy_frame() -> None:
    assert stage_of(f"{SITE}/jarvisctl/store/sqlite/checks.py") == "store"
    assert stage_of("_append (jarvisctl/record/audit.py:88)") == "record"
    assert stage_of(f"{SITE}/jarvisctl/__main__.py") == "__main__"
    assert stage_of(f"{SITE}/paramiko/transport.py") is None
    assert stage_of(f"{SITE}/notjarvisctl/store/x.py") is None


def test_a_stage_counts_calls_into_it_from_outside_once() -> None:
    engine = (f"{SITE}/jarvisctl/engine/session.py", 1, "run_host")
    save = (f"{SITE}/jarvisctl/store/checks.py", 5, "save")
    inner = (f"{SITE}/jarvisctl/store/sqlite/db.py", 9, "execute")
    journal = (f"{SITE}/jarvisctl/record/audit.py", 3, "append")
    module = (f"{SITE}/jarvisctl/store/base.py", 1, "<module>")
    boot = ("<frozen importlib._bootstrap>", 1, "_call_with_frames_removed")
    # pstats rows: (primitive calls, calls, own, cumulative, {caller: (pc, nc, own, cum)})
    stats = {
        engine: (1, 1, 0.1, 1.0, {}),
        save: (10, 10, 0.1, 0.3, {engine: (10, 10, 0.1, 0.3)}),
        inner: (10, 10, 0.2, 0.2, {save: (10, 10, 0.2, 0.2)}),
        journal: (5, 5, 0.05, 0.15, {engine: (4, 4, 0.04, 0.1), save: (1, 1, 0.01, 0.05)}),
        module: (1, 1, 0.02, 0.02, {boot: (1, 1, 0.02, 0.02)}),
    }
    assert inclusive_by_stage(stats, {"store"}) == pytest.approx(0.32)  # save + the import
    assert inclusive_by_stage(stats, {"store"}, imports=False) == pytest.approx(0.3)
    assert inclusive_by_stage(stats, {"record"}) == pytest.approx(0.15)
    # both stages together: the journal called from save is inside already
    assert inclusive_by_stage(stats, {"store", "record"}, imports=False) == pytest.approx(0.4)


ENGINE = "run (jarvisctl/engine/window.py:10)"
SPY = "".join(
    f"{line}\n"
    for line in (
        f"thread (1);{ENGINE};save (jarvisctl/store/checks.py:5);execute (sqlite3/dbapi2.py:1) 30",
        f"thread (1);{ENGINE};read (jarvisctl/connection/channel.py:7);recv (paramiko/c.py:2) 50",
        "thread (2);_bootstrap (threading.py:1);run (paramiko/transport.py:100);x (p.py:3) 20",
    )
)


def test_hotspots_charge_each_sample_to_its_deepest_jarvisctl_function(tmp_path: Path) -> None:
    raw = tmp_path / "spy.txt"
    raw.write_text(SPY)
    found = hotspots(raw, 100)
    assert found["cpu_seconds_sampled"] == 1.0
    assert found["by_deepest_own_function"] == [
        ("jarvisctl/connection/channel.py:read", 0.5),
        ("jarvisctl/store/checks.py:save", 0.3),
    ]
    assert dict(found["by_stage_inclusive"]) == {"engine": 0.8, "connection": 0.5, "store": 0.3}
    assert found["without_own_frames_by_thread_start"] == [("paramiko/transport.py:run", 0.2)]
    assert spy_bookkeeping(raw) == pytest.approx(
        {
            "cpu_seconds_sampled": 100 / 250,
            "bookkeeping_seconds": 30 / 250,
            "bookkeeping_share": 0.3,
        }
    )


def daemon_doc(cycle_cpu: float, walls: list[float], fresh: float) -> dict[str, object]:
    return {
        "started": "2026-12-04T13:00:00+00:00",
        "command": "bench/daemon/run.py",
        "jarvisctl": "abc (wheel of HEAD)",
        "hosts": 500,
        "checks": 20,
        "interval": 60,
        "pid_namespace": "own",
        "loadavg_at_start": ["1", "1", "1"],
        "loadavg_at_end": ["9", "9", "9"],
        "idle": {"rss_mib": 50.0, "cpu_seconds_per_hour": 1.0},
        "pooled": {
            "cycle_cpu": cycle_cpu,
            "cycle_cpu_all": [9.0, cycle_cpu],
            "cycle_wall_all": walls,
            "every_cycle_within_interval": max(walls) < 60,
            "core_share_percent": 100 * cycle_cpu / 60,
            "rss_mib": 120.0,
            "peak_rss_mib": 130.0,
            "threads": 1003,
            "host_cpu_per_cycle": 20.0,
            "failed_cycles": [],
            "open_files_after_each_cycle": [700, 1100],
            "profile": {
                "cycles": 1,
                "cpu_seconds_sampled": 8.0,
                "seconds": 70.0,
                "by_stage_inclusive": [("engine", 4.0)],
                "by_deepest_own_function": [("jarvisctl/engine/x.py:f", 2.0)],
                "without_own_frames_by_thread_start": [("paramiko/transport.py:run", 3.0)],
            },
        },
        "fresh": {"cycle_cpu": fresh, "cycle_wall": 20.0, "peak_rss_mib": 140.0},
        "ratio": round(fresh / cycle_cpu, 2),
        "recovery": None,
    }


def test_the_daemon_table_judges_issue_20s_targets() -> None:
    text = render(daemon_doc(9.0, [30.0, 20.0], 15.0), Path("results/x.json"))
    assert "500 hosts x 20 checks" in text
    assert "15.00 % | < 10 %: **missed**" in text
    assert "every cycle within 60 s: met" in text
    assert "1.67x | ≥ 5x: **missed**" in text
    assert "< 80 MiB: met" in text and "PID namespace of its own" in text
    assert "| `jarvisctl/engine/x.py:f` | 25.0 % | 2.25 s |" in text
    assert "| `engine` | 50.0 % | 4.50 s |" in text
    assert "| cycles with a host not ok | 0 of 2 | none: met |" in text
    failing = daemon_doc(3.0, [30.0, 61.0], 15.0)
    failing["pooled"]["failed_cycles"] = [  # type: ignore[index]
        {"cycle": 2, "hosts": 12, "first": ["host9: failed ValueError: fd out of range"]}
    ]
    text = render(failing, Path("results/x.json"))
    assert "1 of 2 (cycle 2: 12 hosts, e.g. host9: failed ValueError" in text
    assert "none: **missed**" in text and "| 700, 1100 |" in text
    assert "5.00 % | < 10 %: met" in text and "5.0x | ≥ 5x: met" in text
    assert "every cycle within 60 s: **missed**" in text


def test_connections_get_more_time_in_larger_fleets() -> None:
    assert [connect_timeout(n) for n in (10, 50, 100, 200, 500)] == [5.0, 5.0, 5.0, 10.0, 25.0]


def test_the_connections_file_cache_is_not_bookkeeping() -> None:
    assert is_bookkeeping(f"{SITE}/jarvisctl/core/events.py")
    assert is_bookkeeping("emit (jarvisctl/record/audit.py:3)")
    assert not is_bookkeeping(f"{SITE}/jarvisctl/core/filecache.py")
    assert not is_bookkeeping(f"{SITE}/jarvisctl/engine/session.py")
