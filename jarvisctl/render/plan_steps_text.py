"""Steps and rollouts in `jarvisctl plan`'s text: each step's rendered commands, guards and
retries, and each batch's hosts. What a step writes to a host (a copy's content) is shown by
its size and sha256, never itself."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterator

from jarvisctl.config.models.values import format_duration
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

_PHASES = {"task": "TASK", "step": "STEP", "rollback": "ROLLBACK"}
_INDENT = "      "


def rollout_lines(rollout: RolloutPlan) -> Iterator[str]:
    yield (
        f"    ROLLOUT {len(rollout.batches)} batch(es), "
        f"max_fail_percentage {rollout.max_fail_percentage:g}, "
        f"unreachable: {rollout.unreachable}  ({rollout.location})"
    )
    pauses = set(rollout.pause_after)
    for number, hosts in enumerate(rollout.batches, start=1):
        pause = "  (then pause: `jarvisctl rollout continue ID`)" if number in pauses else ""
        yield f"      batch {number}: {', '.join(hosts)}{pause}"
    yield "      per host:"
    for line in per_host(rollout):
        yield f"        {line}"


def per_host(rollout: RolloutPlan) -> Iterator[str]:
    """What happens on each host around its steps, in order."""
    if rollout.wait_for:
        yield (
            f"wait for: {', '.join(rollout.wait_for)} "
            f"(held up to {format_duration(rollout.wait_timeout)}, then deferred)"
        )
    if rollout.gate:
        yield f"gate: {', '.join(rollout.gate)}"
    if rollout.backup:
        yield f"backup: {', '.join(rollout.backup)}"
    if rollout.gate:
        settle = f"settle {format_duration(rollout.settle)}, " if rollout.settle else ""
        yield (
            f"steps, then the gate again ({settle}re-checked up to "
            f"{format_duration(rollout.gate_timeout)})"
        )
        yield "on failure: rollback, then the gate again"
    else:
        yield "steps"
        yield "on failure: rollback"
    yield f"deferred: finished within {format_duration(rollout.defer_for)}"


def step_lines(step: StepPlan, secrets: frozenset[str] = frozenset()) -> Iterator[str]:
    phase = _PHASES.get(step.phase, step.phase.upper())
    yield f"{_INDENT}{phase} {step.index + 1}. {step.name}  [{step.kind}]"
    yield f"{_INDENT}  {_options(step)}"
    if step.creates is not None:
        yield f"{_INDENT}  skip if it exists: {shlex.quote(step.creates)}"
    if step.removes is not None:
        yield f"{_INDENT}  skip if it is missing: {shlex.quote(step.removes)}"
    if step.unless is not None:
        unless = step.unless.replace("\n", f"\n{_INDENT}      ")
        yield f"{_INDENT}  skip if this succeeds: $ {unless}"
    for line in action_lines(step.action, secrets):
        # a script's further lines are indented under its first: the plan stays one block
        yield f"{_INDENT}  {line}".replace("\n", f"\n{_INDENT}      ")


def _options(step: StepPlan) -> str:
    parts = [f"timeout {format_duration(step.timeout)}"]
    if step.retries:
        parts.append(f"retries {step.retries}, delay {format_duration(step.delay)}")
    if step.become:
        parts.append("become")
    if step.once:
        parts.append("once (never repeated by a resume)")
    if step.changed_when is not None:
        parts.append(f"changed_when {_changed_when(step.changed_when)}")
    if step.tags:
        parts.append(f"tags: {', '.join(step.tags)}")
    return ", ".join(parts)


def _changed_when(value: bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"stdout matches {value!r}"


def action_lines(action: StepAction, secrets: frozenset[str] = frozenset()) -> Iterator[str]:
    """How the engine would carry the action out, one line each."""
    if isinstance(action, ShellAction):
        if action.probe is not None:
            yield f"probe: $ {action.probe}"
        for command in action.apply:
            yield from command_lines(command, secrets)
        if action.verify is not None:
            yield f"verify: $ {action.verify}"
    elif isinstance(action, PollAction):
        yield (
            f"wait up to {format_duration(action.timeout)} for {action.what} "
            f"(every {format_duration(action.interval)}): $ {action.probe}"
        )
    elif isinstance(action, CheckWaitAction):
        yield (
            f"wait up to {format_duration(action.timeout)} for checks OK: "
            f"{', '.join(action.checks)} (every {format_duration(action.interval)})"
        )
    elif isinstance(action, RebootAction):
        yield from command_lines(action.command, secrets)
        boot = ", boot id compared" if action.boot_id else ""
        yield f"reconnect within {format_duration(action.wait)}{boot}"
    elif isinstance(action, RestoreAction):
        which = f"snapshot {action.snapshot}" if action.snapshot else "its newest verified snapshot"
        yield f"restore backup '{action.backup}' from {which}"
    elif isinstance(action, FabricAction):
        args = ", ".join(f"{k}={v!r}" for k, v in action.args.items())
        yield f"fabric task {action.target}({args}) from {action.search_path}"
    elif isinstance(action, RemedyAction):  # a rung's attempt: plans show rungs as remediations
        for command in action.commands:
            yield from command_lines(command, secrets)
        yield f"then check '{action.check}' again"


def command_lines(command: HostCommand, secrets: frozenset[str] = frozenset()) -> Iterator[str]:
    yield f"$ {command.command}"
    if command.stdin is not None:
        what = f"{command.describe}: " if command.describe else ""
        yield f"  stdin: {what}{describe_bytes(command.stdin, secrets)}"
    elif command.describe:
        yield f"  ({command.describe})"


def describe_bytes(content: bytes, secrets: frozenset[str] = frozenset()) -> str:
    digest = content_digest(content, secrets)
    if digest is None:
        return f"{len(content)} bytes (they hold a secret: no digest shown)"
    return f"{len(content)} bytes, sha256 {digest}"


def content_digest(content: bytes, secrets: frozenset[str]) -> str | None:
    """The sha256 of what a command sends on its stdin; None when it holds one of the plan's
    secret values: the digest of a short secret in a known template could be guessed."""
    if any(secret and secret.encode() in content for secret in secrets):
        return None
    return hashlib.sha256(content).hexdigest()
