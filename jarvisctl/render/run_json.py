"""`jarvisctl run --json`: the run result, described by jarvisctl/render/schemas/run.schema.json."""

from __future__ import annotations

import json
from typing import Any

from jarvisctl.core.results import CheckResult, HostRun, RemediationNote, RunReport
from jarvisctl.engine.remedy import note_event

SCHEMA_ID = "jarvisctl.run/v1"


def render_run_json(report: RunReport) -> str:
    return json.dumps(run_document(report), indent=2) + "\n"


def run_document(report: RunReport) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "run_id": report.run_id,
        "mode": report.mode,
        "started": report.started.isoformat(),
        "finished": report.finished.isoformat(),
        "interrupted": report.interrupted,
        # the run's verdict, as its exit code and `jarvisctl runs` give it (added within v1)
        "status": report.status.value,
        "playbooks": list(report.playbooks),
        "hosts": [_host(h) for h in report.hosts],
    }


def _host(run: HostRun) -> dict[str, Any]:
    return {
        "host": run.host,
        "play": run.play,
        "address": run.address,
        "outcome": run.outcome.value,
        "error": run.error,
        "duration_seconds": round(run.duration, 4),
        "host_key": run.host_key,
        "checks": [_check(c) for c in run.checks],
        "remediations": [_note(n) for n in run.remediations],
    }


def _check(check: CheckResult) -> dict[str, Any]:
    return {
        "name": check.name,
        "kind": check.kind,
        "command": check.command,
        "status": check.status.value,
        "raw_status": check.raw_status.value if check.raw_status else check.status.value,
        "previous_status": check.previous_status.value if check.previous_status else None,
        "flapping": check.flapping,
        "value": check.value,
        "unit": check.unit,
        "reason": check.reason,
        "source": check.source,
        "perfdata": [datum.as_record() for datum in check.perfdata],
        "exit_code": check.exit_code,
        "stdout_tail": check.stdout_tail,
        "stderr_tail": check.stderr_tail,
    }


def _note(note: RemediationNote) -> dict[str, Any]:
    return note_event(note)
