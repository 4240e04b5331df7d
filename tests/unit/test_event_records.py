"""Typed events are journaled as the untyped ones were: the same keys and JSON types per kind
(against a journal written by the release before typed events, tests/data/events/), and that
journal still verifies and reports with today's code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from jarvisctl.core.events import (
    Command,
    CommandOutput,
    EventKind,
    HostFailed,
    HostInterrupted,
    HostSkipped,
    LeaseTakeover,
    Payload,
    RunFinished,
    RunIncomplete,
)
from jarvisctl.record.audit import iter_records, verify
from tests.waiting import free_port

DATA = Path(__file__).resolve().parents[1] / "data" / "events"
# Written by the release before typed events (commit 4249fd0) running tests/data/events/play.yml:
# a host unreachable, a remediation verified, a circuit breaker open over three hosts.
OLD_RUN = "20261203T171331Z-455aee"


def shape(value: Any) -> Any:
    """A value's keys and JSON types, not its contents (times, paths and ids differ by run)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return sorted({json.dumps(shape(item), sort_keys=True) for item in value})
    return type(value).__name__


# Keys added to a kind's records since that release, on purpose, with their JSON types: the check
# record's `source` (how it was measured), so that the run's one JSON document (run/v2, read
# from the journal) keeps what `run --json` gave before.
ADDED = {"check": {"source": "str"}}


def record_shapes(
    journal: bytes, added: dict[str, dict[str, str]] | None = None, *, folded: bool = False
) -> Counter[str]:
    """Each record's kind, place and shape; `folded`: as a run journals them since December
    2026, each `command` record of purpose `checks` folded into its check's record (its fields
    but `purpose` and `check`), so that a check is one record."""
    shapes: Counter[str] = Counter()
    measured: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in iter_records(journal):
        data = dict(r.data)
        if folded and r.kind == "command" and data.get("purpose") == "checks":
            measured[(r.host, r.play, data["check"])] = {
                k: v for k, v in data.items() if k not in ("purpose", "check")
            }
            continue
        if folded and r.kind == "check":
            data |= measured.pop((r.host, r.play, data["check"]), {})
        data = shape(data) | (added or {}).get(r.kind, {})
        shapes[json.dumps([r.kind, r.host, r.play, data], sort_keys=True)] += 1
    assert not measured, f"commands of checks without their check records: {sorted(measured)}"
    return shapes


def run_scenario(root: Path) -> Path:
    root.mkdir()
    shutil.copy(DATA / "play.yml", root / "play.yml")
    inventory = (DATA / "inventory.yml").read_text().replace("{port}", str(free_port()))
    (root / "inventory.yml").write_text(inventory)
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "-i", "inventory.yml"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stdout + done.stderr  # not ok: critical and unreachable
    (journal,) = (root / ".jarvisctl" / "runs").glob("*.jsonl")
    return journal


def test_a_run_journals_the_records_the_release_before_wrote(tmp_path: Path) -> None:
    old = (DATA / f"{OLD_RUN}.jsonl").read_bytes()
    new = run_scenario(tmp_path / "project").read_bytes()
    assert record_shapes(new) == record_shapes(old, ADDED, folded=True)
    kinds = {r.kind for r in iter_records(new)}
    assert {"host_unreachable", "remediation", "circuit_open", "command", "batch"} <= kinds
    purposes = {r.data["purpose"] for r in iter_records(new) if r.kind == "command"}
    assert purposes == {"remediation", "verify"}  # a check's own is in its record


def test_a_journal_written_before_typed_events_verifies_and_reports(tmp_path: Path) -> None:
    content = (DATA / f"{OLD_RUN}.jsonl").read_bytes()
    result, records = verify(OLD_RUN, content)
    assert result.intact and result.complete and len(records) == 29
    runs = tmp_path / ".jarvisctl" / "runs"
    runs.mkdir(parents=True)
    (runs / f"{OLD_RUN}.jsonl").write_bytes(content)
    for args in (["audit", "verify", OLD_RUN], ["report", OLD_RUN, "--format", "json"]):
        done = subprocess.run(
            [sys.executable, "-m", "jarvisctl", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["run_id"] == OLD_RUN


def test_the_kinds_a_plain_run_does_not_meet_keep_their_record_keys() -> None:
    """What the emitters of the release before wrote for these (their dict literals)."""
    output = CommandOutput("sha256:x", 1, 0, "a", "b", False)
    finished = RunFinished("r", False, 1.0, {}, ())
    records: list[tuple[Payload, set[str]]] = [
        (HostFailed("boom"), {"error"}),
        (HostInterrupted("ssh a:22", "stopped"), {"address", "error"}),
        (HostSkipped("interrupted"), {"reason"}),
        (
            HostSkipped("leased", "run-1", 7, "ctl", "cli", 1.0),
            {"reason", "owner", "pid", "controller", "source", "expires"},
        ),
        (
            LeaseTakeover("run-0", 6, "ctl", "daemon", True, 1.5),
            {"previous_owner", "previous_pid", "previous_controller", "previous_source"}
            | {"expired", "expired_seconds_ago"},
        ),
        (
            Command("checks", "c", "true", None, "", ""),
            {"purpose", "check", "command", "exit_code", "stdout_tail", "stderr_tail", "digest"},
        ),
        (
            Command("checks", "c", "true", 0, "", "", None, output),
            {"purpose", "check", "command", "exit_code", "stdout_tail", "stderr_tail"}
            | {"seconds", "digest", "stdout_bytes", "stderr_bytes", "stdout_sha256"}
            | {"stderr_sha256", "truncated"},
        ),
        (RunIncomplete("r", "disk full", 3), {"run_id", "reason", "lost"}),
        (
            RunIncomplete("r", "disk full", 3, finished),
            {"run_id", "reason", "lost", "interrupted", "seconds", "recap", "hosts"},
        ),
    ]
    for payload, keys in records:
        assert set(payload.record()) == keys, payload
    assert Command("checks", "c", "true", None, "", "").record()["digest"] is None
    assert HostSkipped("x").kind is EventKind.HOST_SKIPPED and EventKind("check") == "check"
