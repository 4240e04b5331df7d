"""The one JSON form of a run, described by jarvisctl/render/schemas/run.schema.json (schema id
jarvisctl.run/v2): `jarvisctl run --json`, `jarvisctl report RUN_ID --format json` and
`run --report FILE.json` all serialize the run's document, rebuilt from its audit journal
(render/reports/document.py), with this one function. So a run's JSON is the same document
whether it is printed as the run ends or asked for later. Each check's history (earlier runs'
values, which the Markdown and HTML reports chart) is not in it: it is other runs' data, and it
made the document ten times larger, read from twenty earlier journals at the end of every run."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

from jarvisctl.core.results import PerfDatum
from jarvisctl.render.reports.document import (
    CheckEntry,
    HostSection,
    RemediationEntry,
    RunDocument,
)

if TYPE_CHECKING:  # made only by a run with backups (steps)
    from jarvisctl.render.reports.backup_entries import BackupAction, BackupEntry
    from jarvisctl.render.reports.step_entries import StepEntry

SCHEMA_ID = "jarvisctl.run/v2"
PIECE = 1 << 16  # characters of whole lines written at once by write_run_json


def render_run_json(run: RunDocument) -> str:
    return "".join(_text(run))


def write_run_json(run: RunDocument, stream: TextIO) -> None:
    """The same text as render_run_json, written in pieces of whole lines (a redacting stream
    redacts line by line): a large fleet's document is not held whole, as text, at the end of
    every run."""
    pending: list[str] = []
    size = 0
    for chunk in _text(run):
        pending.append(chunk)
        size += len(chunk)
        if size >= PIECE:
            text = "".join(pending)
            cut = text.rfind("\n") + 1
            if cut:  # else one line longer than PIECE, still arriving: wait for its end
                stream.write(text[:cut])
            pending, size = [text[cut:]], len(text) - cut
    stream.write("".join(pending))
    stream.flush()


# Containers nested this deep or deeper are written on one line each: a check, a remediation,
# a circuit breaker, a value of `summary`. The levels above are indented by two spaces a level.
INLINE_DEPTH = 4
# How a one-line value is spelled: json's C encoder, with the spaces `indent=2` would put.
_ONE_LINE = json.JSONEncoder(separators=(", ", ": "), allow_nan=False)


def _text(run: RunDocument) -> Iterator[str]:
    """The document, two spaces a level down to the hosts' lists, then one line per check (and
    per remediation), and a newline. json.dumps(indent=2) spells the same JSON over ten times
    as many lines and, pure Python, took most of `run --json`'s own time at 50 hosts (63 ms for
    275 KiB); one line per check is also what grep and a reader scanning a host want."""
    yield from _layout(run_json(run), 0)
    yield "\n"


def _layout(value: Any, depth: int) -> Iterator[str]:
    if depth >= INLINE_DEPTH or not value or not isinstance(value, dict | list):
        yield _ONE_LINE.encode(value)
        return
    inner = "\n" + "  " * (depth + 1)
    if isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield ("," if index else "") + inner + _ONE_LINE.encode(key) + ": "
            yield from _layout(item, depth + 1)
        yield "\n" + "  " * depth + "}"
    else:
        yield "["
        for index, item in enumerate(value):
            yield ("," if index else "") + inner
            yield from _layout(item, depth + 1)
        yield "\n" + "  " * depth + "]"


def run_json(run: RunDocument) -> dict[str, Any]:
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
    """JSON has no NaN nor infinity: a value that is not finite was not measured."""
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
        "backups": [_backup(b) for b in section.backups],
        "backup_actions": [_action(a) for a in section.backup_actions],
        "steps": [_step(s) for s in section.steps],
        "rollout": None if section.rollout is None else dict(section.rollout),
    }


def _step(entry: StepEntry) -> dict[str, Any]:
    return {
        "phase": entry.phase,
        "index": entry.index,
        "name": entry.name,
        "kind": entry.kind,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "attempts": entry.attempts,
        "commands": list(entry.commands),
        "exit_codes": list(entry.exit_codes),
        "seconds": entry.seconds,
        "rollout": entry.rollout,
    }


def _action(action: BackupAction) -> dict[str, Any]:
    return {
        "action": action.action,
        "backup": action.backup,
        "store": action.store,
        "snapshot": action.snapshot,
        "ok": action.ok,
        "summary": action.summary,
        "record": dict(action.record),
    }


def _backup(entry: BackupEntry) -> dict[str, Any]:
    verify, prune = entry.verify, entry.prune
    return {
        "name": entry.name,
        "store": entry.store,
        "outcome": entry.outcome,
        "stage": entry.stage,
        "reason": entry.reason,
        "source": entry.source,
        "what": list(entry.what),
        "snapshot": entry.snapshot,
        "files": entry.files,
        "bytes": entry.bytes,
        "stored_bytes": entry.stored_bytes,
        "seconds": _number(entry.seconds),
        "verify": None
        if verify is None
        else {
            "mode": verify.mode,
            "ok": verify.ok,
            "state": verify.state,
            "problem": verify.problem,
            "seconds": _number(verify.seconds),
        },
        "prune": None
        if prune is None
        else {
            "kept": list(prune.kept),
            "forgotten": list(prune.forgotten),
            "rules": dict(prune.rules),
            "error": prune.error,
        },
    }


def _check(check: CheckEntry) -> dict[str, Any]:
    return {
        "name": check.name,
        "kind": check.kind,
        "status": check.status,
        "initial_status": check.initial_status,
        "raw_status": check.raw_status,
        "previous_status": check.previous_status,
        "flapping": check.flapping,
        "value": _number(check.value),
        "unit": check.unit,
        "reason": check.reason,
        "source": check.source,
        "command": check.command,
        "exit_code": check.exit_code,
        "stdout_tail": check.stdout_tail,
        "stderr_tail": check.stderr_tail,
        "digest": check.digest,
        "perfdata": [_perfdatum(d) for d in check.perfdata],
    }


def _perfdatum(datum: PerfDatum) -> dict[str, Any]:
    record = datum.as_record()
    return record | {key: _number(record[key]) for key in ("value", "min", "max")}


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
        "verified_perfdata": [_perfdatum(d) for d in entry.verified_perfdata],
        "seconds": entry.seconds,
    }
