"""Steps and rollouts in `jarvisctl plan --json` (render/schemas/plan.schema.json: `step`,
`action`, `rollout`). What a step writes to a host is given by its size and sha256, never
itself."""

from __future__ import annotations

from typing import Any

from jarvisctl.core.errors import Location
from jarvisctl.kinds.step_base import (
    CheckWaitAction,
    FabricAction,
    HostCommand,
    PollAction,
    RebootAction,
    RemedyAction,
    RestoreAction,
    ShellAction,
    StepAction,
)
from jarvisctl.plan.model import RolloutPlan, StepPlan
from jarvisctl.render.plan_steps_text import content_digest


def _location(location: Location) -> dict[str, Any]:
    return {"file": location.file, "line": location.line, "column": location.column}


def rollout_json(rollout: RolloutPlan) -> dict[str, Any]:
    return {
        "batches": [list(hosts) for hosts in rollout.batches],
        "max_fail_percentage": rollout.max_fail_percentage,
        "unreachable": rollout.unreachable,
        "pause_after": list(rollout.pause_after),
        "gate": list(rollout.gate),
        "settle_seconds": rollout.settle,
        "gate_timeout_seconds": rollout.gate_timeout,
        "wait_for": list(rollout.wait_for),
        "wait_timeout_seconds": rollout.wait_timeout,
        "backup": list(rollout.backup),
        "defer_for_seconds": rollout.defer_for,
        "location": _location(rollout.location),
    }


def step_json(step: StepPlan, secrets: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {
        "phase": step.phase,
        "index": step.index,
        "key": step.key,
        "name": step.name,
        "kind": step.kind,
        "retries": step.retries,
        "delay_seconds": step.delay,
        "timeout_seconds": step.timeout,
        "once": step.once,
        "become": step.become,
        "guards": {"creates": step.creates, "removes": step.removes, "unless": step.unless},
        "changed_when": step.changed_when,
        "tags": list(step.tags),
        "location": _location(step.location),
        "action": action_json(step.action, secrets),
    }


def action_json(action: StepAction, secrets: frozenset[str] = frozenset()) -> dict[str, Any]:
    if isinstance(action, ShellAction):
        return {
            "type": "shell",
            "probe": action.probe,
            "apply": [command_json(c, secrets) for c in action.apply],
            "verify": action.verify,
        }
    if isinstance(action, PollAction):
        return {
            "type": "poll",
            "probe": action.probe,
            "what": action.what,
            "interval_seconds": action.interval,
            "timeout_seconds": action.timeout,
        }
    if isinstance(action, CheckWaitAction):
        return {
            "type": "check_wait",
            "checks": list(action.checks),
            "interval_seconds": action.interval,
            "timeout_seconds": action.timeout,
        }
    if isinstance(action, RebootAction):
        return {
            "type": "reboot",
            "command": command_json(action.command, secrets),
            "wait_seconds": action.wait,
            "boot_id": action.boot_id,
        }
    if isinstance(action, RestoreAction):
        return {"type": "restore", "backup": action.backup, "snapshot": action.snapshot}
    if isinstance(action, RemedyAction):  # a rung's attempt: plans show rungs as remediations
        return {
            "type": "remediation",
            "use": action.use,
            "commands": [command_json(c, secrets) for c in action.commands],
            "check": action.check,
            "reconnect_seconds": action.reconnect,
        }
    return _fabric(action)


def _fabric(action: FabricAction) -> dict[str, Any]:
    return {
        "type": "fabric",
        "target": action.target,
        # as text: the document stays JSON whatever a task's arguments hold
        "args": {str(k): str(v) for k, v in action.args.items()},
        "search_path": action.search_path,
    }


def command_json(command: HostCommand, secrets: frozenset[str] = frozenset()) -> dict[str, Any]:
    stdin = None
    if command.stdin is not None:
        digest = content_digest(command.stdin, secrets)  # None: it holds a secret
        stdin = {"bytes": len(command.stdin), "sha256": digest}
    return {"command": command.command, "describe": command.describe, "stdin": stdin}
