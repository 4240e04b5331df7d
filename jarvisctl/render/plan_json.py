"""`jarvisctl plan --json`: a stable document, described by render/schemas/plan.schema.json."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from jarvisctl.core.errors import Location, Problem
from jarvisctl.core.frozen import frozen
from jarvisctl.plan.model import (
    BackupPlan,
    CheckPlan,
    HostPlan,
    Plan,
    PlaybookPlan,
    PlayPlan,
    RemediationPlan,
    StepPlan,
)

SCHEMA_ID = "jarvisctl.plan/v1"


def render_plan_json(plan: Plan) -> str:
    """`json.dumps(plan_document(plan), indent=2)`, with each distinct check and step encoded
    once."""
    shared = _Encoded()
    step = shared.stand_in(lambda s: _step(s, plan.secrets))
    document = plan_document(plan, shared.stand_in(_check), step)
    return shared.fill(json.dumps(document, indent=2)) + "\n"


def _step(step: StepPlan, secrets: frozenset[str]) -> dict[str, Any]:
    # a plan without steps does not import the step kinds' code
    from jarvisctl.render.plan_steps_json import step_json

    return step_json(step, secrets)


class _Encoded:
    """Hosts that resolve a check or a step alike share one CheckPlan or StepPlan (see
    jarvisctl.plan.reuse, plan.steps): each is encoded once, and the document holds a unique
    stand-in string in its place until `fill` (a fleet's plan is a few check and step objects
    repeated thousands of times; the indented encoder is pure Python)."""

    def __init__(self) -> None:
        self._token = uuid.uuid4().hex
        self._numbers: dict[int, int] = {}  # id(plan) -> number
        self._encoded: list[str] = []
        self._stand_in = re.compile(f'^( *)"{self._token}:([0-9]+)"', re.MULTILINE)

    def stand_in(self, encode: Callable[[Any], dict[str, Any]]) -> Callable[[Any], str]:
        """A function giving the stand-in of a plan, encoding it with `encode` the first time."""

        def stand_in(plan: Any) -> str:
            number = self._numbers.get(id(plan))
            if number is None:
                number = self._numbers[id(plan)] = len(self._encoded)
                self._encoded.append(json.dumps(encode(plan), indent=2))
            return f"{self._token}:{number}"

        return stand_in

    def fill(self, text: str) -> str:
        indented: dict[tuple[str, str], str] = {}  # (indent, number) -> the check's text there

        def encoded(match: re.Match[str]) -> str:
            key = (match.group(1), match.group(2))
            found = indented.get(key)
            if found is None:
                indent, number = key
                found = indent + self._encoded[int(number)].replace("\n", "\n" + indent)
                indented[key] = found
            return found

        return self._stand_in.sub(encoded, text)


def plan_document(
    plan: Plan,
    check: Callable[[CheckPlan], Any] | None = None,
    step: Callable[[StepPlan], Any] | None = None,
) -> dict[str, Any]:
    """The document; `check` and `step` encode each check and step (by default as dicts)."""
    encode = _Encoders(check or _check, step or (lambda s: _step(s, plan.secrets)))
    return {
        "schema": SCHEMA_ID,
        "generated_at": plan.generated_at.isoformat(),
        "inventory": plan.inventory,
        "limit": plan.limit,
        "tags": list(plan.tags),
        "ok": plan.ok,
        "playbooks": [_playbook(p, encode) for p in plan.playbooks],
    }


def location_json(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"file": location.file, "line": location.line, "column": location.column}


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "location": location_json(problem.location),
        "message": problem.message,
        "hint": problem.hint,
        "text": str(problem),
    }


@frozen
class _Encoders:
    check: Callable[[CheckPlan], Any]
    step: Callable[[StepPlan], Any]


def _playbook(playbook: PlaybookPlan, encode: _Encoders) -> dict[str, Any]:
    return {
        "file": playbook.file,
        "ok": playbook.ok,
        "problems": [problem_json(p) for p in playbook.problems],
        "plays": [_play(p, encode) for p in playbook.plays],
    }


def _play(play: PlayPlan, encode: _Encoders) -> dict[str, Any]:
    schedule = None
    if play.schedule:
        schedule = {
            "description": play.schedule.description,
            "next_fire_times": [t.isoformat() for t in play.schedule.next_fire_times],
        }
    return {
        "name": play.name,
        "hosts_pattern": play.hosts_pattern,
        "location": location_json(play.location),
        "tags": list(play.tags),
        "labels": dict(play.labels),
        "schedule": schedule,
        "rollout": _rollout(play),
        "hosts": [_host(h, encode) for h in play.hosts],
    }


def _host(host: HostPlan, encode: _Encoders) -> dict[str, Any]:
    s = host.settings
    return {
        "host": host.host,
        "connection": {
            "type": s.connection,
            "address": s.address,
            "port": s.port,
            "user": s.user,
            "become": s.become,
            "host_key_policy": s.host_key_policy,
        },
        "checks": [encode.check(c) for c in host.checks],
        "backups": [_backup(b) for b in host.backups],
        **_steps(host, encode.step),
    }


def _rollout(play: PlayPlan) -> dict[str, Any] | None:
    if play.rollout is None:
        return None
    from jarvisctl.render.plan_steps_json import rollout_json

    return rollout_json(play.rollout)


def _steps(host: HostPlan, encode: Callable[[StepPlan], Any]) -> dict[str, list[Any]]:
    return {
        "tasks": [encode(s) for s in host.tasks],
        "steps": [encode(s) for s in host.steps],
        "rollback": [encode(s) for s in host.rollback],
    }


def _backup(backup: BackupPlan) -> dict[str, Any]:
    keep = backup.keep
    store = backup.store
    return {
        "name": backup.name,
        "play": backup.play,
        "source": backup.source,
        "paths": list(backup.paths),
        "exclude": list(backup.exclude),
        "command": backup.command,
        "file": backup.file,
        "keep": {
            "last": keep.last,
            "daily": keep.daily,
            "weekly": keep.weekly,
            "monthly": keep.monthly,
        },
        "max_age_seconds": backup.max_age,
        "verify": backup.verify,
        # never the password: a store is named by where it keeps snapshots
        "store": {"name": store.name, "type": store.kind, "location": store.location},
        "compress": backup.compress,
        "timeout_seconds": backup.timeout,
        "become": backup.become,
        "bandwidth_bytes_per_second": backup.bandwidth,
        "nice": backup.nice,
        "tags": list(backup.tags),
        "location": location_json(backup.location),
    }


def _check(check: CheckPlan) -> dict[str, Any]:
    return {
        "name": check.name,
        "use": check.use,
        "kind": check.kind,
        "description": check.description,
        "command": check.command,
        "unit": check.unit,
        "direction": check.direction,
        "thresholds": {
            "warn": str(check.warn) if check.warn else None,
            "crit": str(check.crit) if check.crit else None,
            "clear": str(check.clear) if check.clear else None,
        },
        "for": check.for_cycles,
        "timeout_seconds": check.timeout,
        "tags": list(check.tags),
        "location": location_json(check.location),
        "remediations": [_remediation(r) for r in check.remediations],
    }


def _remediation(remediation: RemediationPlan) -> dict[str, Any]:
    return {
        "use": remediation.use,
        "kind": remediation.kind,
        "description": remediation.description,
        "on": list(remediation.on),
        "commands": list(remediation.commands),
        "max_attempts": remediation.max_attempts,
        "window_seconds": remediation.window,
        "cooldown_seconds": remediation.cooldown,
        "settle_seconds": remediation.settle,
    }
