"""One precedence for a run's verdict: `jarvisctl run`'s exit code, the run index's status (from
the recorded recap) and the daemon's job outcome agree, whichever mix of outcomes a run has."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from jarvisctl.cli.run import exit_code
from jarvisctl.core.results import CheckResult, HostRun, Outcome, RunReport, Status
from jarvisctl.daemon.runtime import outcome_of
from jarvisctl.record.history import run_status
from jarvisctl.render.run_json import run_document
from jarvisctl.render.run_text import recap_counts

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


def report(*hosts: HostRun, interrupted: bool = False) -> RunReport:
    return RunReport("r", "run", NOW, NOW, (OK, *hosts), interrupted=interrupted)


@pytest.mark.parametrize(
    "mix",
    [c for n in range(1, len(ORDER) + 1) for c in itertools.combinations(ORDER, n)],
    ids="+".join,
)
def test_the_worst_outcome_decides_the_status_and_exit_code_everywhere(
    mix: tuple[str, ...],
) -> None:
    worst = mix[0]  # combinations keep ORDER's order
    run = report(*(HOSTS[name][0] for name in mix), interrupted="interrupted" in mix)
    assert run.status.value == worst
    assert exit_code(run) == HOSTS[worst][1]
    assert outcome_of(run) == worst
    assert run_status(run.interrupted, recap_counts(run)) == worst  # what `runs` shows
    assert run_document(run)["status"] == worst  # run --json


def test_a_run_with_nothing_wrong_is_ok_and_a_skipped_host_is_never_green() -> None:
    assert (report().status.value, exit_code(report())) == ("ok", 0)
    skipped = report(HOSTS["skipped"][0])
    assert recap_counts(skipped)["h3"]["skipped"] == 1
    assert run_status(False, recap_counts(skipped)) == "skipped" and exit_code(skipped) == 8
