"""`jarvisctl report --format json`: the document described by
jarvisctl/render/schemas/report.schema.json (schema id jarvisctl.report/v1)."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from jarvisctl.core.results import PerfDatum
from jarvisctl.render.reports.document import (
    CheckEntry,
    HostSection,
    Point,
    RemediationEntry,
    RunDocument,
)

SCHEMA_ID = "jarvisctl.report/v1"


def report_document(run: RunDocument) -> dict[str, Any]:
    a = run.announcement
    return {
        "schema": SCHEMA_ID,
        "run_id": run.run_id,
        "status": run.status,
        "complete": run.complete,
        "interrupted": run.interrupted,
        "mode": a.get("mode"),
        "source": a.get("source"),
        "user": a.get("user"),
        "controller": a.get("controller"),
        "version": a.get("version"),
        "arguments": list(a.get("arguments", [])),
        "playbooks": dict(a.get("playbooks", {})),
        "inventory": dict(a.get("inventory", {})),
        "started": _iso(run.started_at),
        "finished": _iso(run.finished_at),
        "seconds": run.seconds,
        "journal": {
            "records": run.verification.records,
            "last_hash": run.verification.last_hash,
            "intact": run.verification.intact,
        },
        "summary": run.summary,
        "hosts": [_host(h) for h in run.hosts],
        "circuit_breakers": [dict(b) for b in run.circuit_breakers],
    }


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, timezone.utc).isoformat()


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _host(section: HostSection) -> dict[str, Any]:
    return {
        "host": section.host,
        "play": section.play,
        "address": section.address,
        "outcome": section.outcome,
        "error": section.error,
        "seconds": section.seconds,
        "host_key": section.host_key,
        "checks": [_check(c) for c in section.checks],
        "remediations": [_remediation(r) for r in section.remediations],
    }


def _check(check: CheckEntry) -> dict[str, Any]:
    return {
        "name": check.name,
        "kind": check.kind,
        "status": check.status,
        "initial_status": check.initial_status,
        "previous_status": check.previous_status,
        "flapping": check.flapping,
        "value": _number(check.value),
        "unit": check.unit,
        "reason": check.reason,
        "command": check.command,
        "exit_code": check.exit_code,
        "stdout_tail": check.stdout_tail,
        "stderr_tail": check.stderr_tail,
        "digest": check.digest,
        "history": [_point(p) for p in check.history],
        "perfdata": [_perfdatum(d) for d in check.perfdata],
    }


def _perfdatum(datum: PerfDatum) -> dict[str, Any]:
    record = datum.as_record()
    return record | {key: _number(record[key]) for key in ("value", "min", "max")}


def _point(point: Point) -> dict[str, Any]:
    return {
        "run_id": point.run_id,
        "at": _iso(point.at),
        "value": _number(point.value),
        "status": point.status,
    }


def _remediation(entry: RemediationEntry) -> dict[str, Any]:
    return {
        "check": entry.check,
        "use": entry.use,
        "rung": entry.rung,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "commands": list(entry.commands),
        "exit_codes": list(entry.exit_codes),
        "verified_value": _number(entry.verified_value),
        "verified_status": entry.verified_status,
        "seconds": entry.seconds,
    }
