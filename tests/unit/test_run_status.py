"""One precedence for a run's verdict, decided once (core.results.run_status, from the recap):
`jarvisctl run`'s exit code, the run index's row, the reports (rebuilt from the journal) and the
daemon's job outcome all give the same answer, whichever mix of outcomes a run has."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from jarvisctl.cli.run import exit_code
from jarvisctl.core.events import RUN_FINISHED, RUN_STARTED, NullSink
from jarvisctl.core.results import (
    NOT_OK_COUNTS,
    RECAP_COLUMNS,
    CheckResult,
    HostRun,
    Outcome,
    RunReport,
    RunStatus,
    Status,
    run_status,
)
from jarvisctl.daemon.runtime import outcome_of
from jarvisctl.record.history import find_run
from jarvisctl.record.recording import host_outcomes, record_run
from jarvisctl.render.reports.load import load_document
from jarvisctl.render.reports.render import render
from jarvisctl.store.factory import open_store
from tests.events import raw

NOW = datetime(2026, 12, 3, tzinfo=timezone.utc)
CRITICAL = CheckResult("disk", "disk_usage", "df", Status.CRITICAL, 95.0, "%", "95% > 90%")

# what a run may hold, and the (status, exit code) it gives when it is the worst thing there
HOSTS = {
    "interrupted": (HostRun("h1", "p", "ssh", Outcome.INTERRUPTED, error="stopped"), 130),
    "unreachable": (HostRun("h2", "p", "ssh", Outcome.UNREACHABLE, error="refused"), 4),
    "skipped": (HostRun("h3", "p", "ssh", Outcome.SKIPPED, error="leased by cli run x"), 8),
    "not_ok": (HostRun("h4", "p", "ssh", Outcome.OK, (CRITICAL,)), 1),
}
OK = HostRun("h5", "p", "ssh", Outcome.OK)
ORDER = list(HOSTS)  # worst first: the README's exit-code table says the same
MIXES = [c for n in range(1, len(ORDER) + 1) for c in itertools.combinations(ORDER, n)]


def report(*hosts: HostRun, interrupted: bool = False) -> RunReport:
    return RunReport("r", "run", NOW, NOW, (OK, *hosts), interrupted=interrupted)


def recorded(state_dir: Path, run: RunReport, run_id: str) -> None:
    """The run's records as `run_playbooks` writes them: the journal and the run index."""
    with record_run(state_dir, run_id, frozenset(), NullSink()) as recording:
        hosts = sorted({h.host for h in run.hosts})
        recording.events.emit(raw(RUN_STARTED, data={"run_id": run_id, "hosts": hosts}))
        finished = {
            "run_id": run_id,
            "interrupted": run.interrupted,
            "seconds": 0.5,
            "recap": run.recap(),
            "hosts": host_outcomes(run),
        }
        recording.events.emit(raw(RUN_FINISHED, data=finished))


def every_answer(state_dir: Path, run: RunReport, run_id: str) -> dict[str, object]:
    """The verdict as each consumer gives it."""
    recorded(state_dir, run, run_id)
    document = load_document(state_dir, run_id)
    return {
        "status": run.status.value,
        "exit code": exit_code(run.status),
        "daemon job outcome": outcome_of(run),
        "run index": find_run(open_store(state_dir, readonly=True), run_id).status,
        "report": document.status,
        "report json": json.loads(render(document, "json"))["status"],
        "report markdown": render(document, "md").splitlines()[0].rsplit(": ", 1)[1].lower(),
    }


@pytest.mark.parametrize("mix", MIXES, ids="+".join)
def test_the_worst_outcome_decides_the_status_and_exit_code_everywhere(
    tmp_path: Path, mix: tuple[str, ...]
) -> None:
    worst = mix[0]  # combinations keep ORDER's order
    run = report(*(HOSTS[name][0] for name in mix), interrupted="interrupted" in mix)
    code = HOSTS[worst][1]
    assert every_answer(tmp_path, run, "run-1") == {
        "status": worst,
        "exit code": code,
        "daemon job outcome": worst,
        "run index": worst,
        "report": worst,
        "report json": worst,
        "report markdown": worst,  # its title: `...: NOT_OK`
    }


def test_a_run_with_nothing_wrong_is_ok_and_a_skipped_host_is_never_green(tmp_path: Path) -> None:
    assert every_answer(tmp_path, report(), "run-ok") == {
        "status": "ok",
        "exit code": 0,
        "daemon job outcome": "ok",
        "run index": "ok",
        "report": "ok",
        "report json": "ok",
        "report markdown": "ok",
    }
    skipped = report(HOSTS["skipped"][0])
    assert skipped.recap()["h3"]["skipped"] == 1
    assert run_status(False, skipped.recap()) is RunStatus.SKIPPED
    assert exit_code(skipped.status) == 8


@pytest.mark.parametrize("count", [*NOT_OK_COUNTS, "interrupted", "unreachable", "skipped"])
def test_each_recap_count_moves_the_status_off_ok(count: str) -> None:
    """From the recap alone, as the journal's run_finished record keeps it."""
    recap = {"h": {c: 0 for c in RECAP_COLUMNS} | {"ok": 3, count: 1}}
    expected = count if count in ("interrupted", "unreachable", "skipped") else "not_ok"
    assert run_status(False, recap).value == expected
    assert run_status(True, recap) is RunStatus.INTERRUPTED
    assert run_status(False, {"h": {"ok": 3, "changed": 1}}) is RunStatus.OK
