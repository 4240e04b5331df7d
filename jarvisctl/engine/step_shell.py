"""One attempt of the actions that are shell commands on the host: a ShellAction (probe →
apply → verify) and a PollAction (its probe until it passes)."""

from __future__ import annotations

from jarvisctl.config.models.values import format_duration
from jarvisctl.connection.base import CommandResult
from jarvisctl.core.regex_search import search_bounded
from jarvisctl.core.results import StepOutcome
from jarvisctl.engine.step_attempt import Ran, StepHost, Trail, failure
from jarvisctl.kinds.step_base import PROBE_CHANGE, PollAction, ShellAction
from jarvisctl.plan.model import StepPlan

OK, CHANGED, FAILED = StepOutcome.OK, StepOutcome.CHANGED, StepOutcome.FAILED
WOULD_CHANGE, INTERRUPTED = StepOutcome.WOULD_CHANGE, StepOutcome.INTERRUPTED


def shell_attempt(
    runner: StepHost,
    step: StepPlan,
    action: ShellAction,
    trail: Trail,
    *,
    applied_before: bool,
) -> Ran:
    """probe (0: nothing to do, 1: apply, else the probe failed) → apply → verify; check
    mode stops after the probe."""
    if action.probe is not None:
        probe = runner.command(step, action.probe, trail)
        if probe.ok:
            if applied_before:  # an earlier attempt's apply did it after all
                return _changed(step, "in the desired state after an earlier attempt", "")
            return Ran(OK, "already in the desired state (the probe says so)", applied=False)
        if probe.timed_out or probe.exit_code != PROBE_CHANGE:
            return Ran(FAILED, f"the probe of {step.name!r} {_probe_failure(probe)}")
    if runner.checking:
        return _would(step, action)
    out = []
    for command in action.apply:
        result = runner.command(step, command, trail)
        if not result.ok:
            return Ran(FAILED, failure(result))
        out.append(result.stdout)
    if action.verify is not None:
        verified = runner.command(step, action.verify, trail)
        if not verified.ok:
            return Ran(FAILED, f"verification failed: {failure(verified)}")
    done = "applied and verified" if action.verify is not None else "applied"
    return _changed(step, done, "".join(out))


def _changed(step: StepPlan, done: str, stdout: str) -> Ran:
    """What the step's `changed_when` makes of an action that ran: false (never changed),
    a regular expression (changed only when the tail of the stdout matches it; when the match
    could not be told in time, changed, saying why), else changed."""
    rule = step.changed_when
    if rule is False:
        return Ran(OK, f"{done} (changed_when: false)")
    if isinstance(rule, str) and not isinstance(rule, bool):
        matched = search_bounded(rule, stdout)  # bounded in time and size
        if matched is False:
            return Ran(OK, f"{done}; its output does not match changed_when {rule!r}")
        if matched is True:
            return Ran(CHANGED, f"{done}; its output matches changed_when {rule!r}")
        why = f"its output could not be matched against changed_when {rule!r} {matched}"
        return Ran(CHANGED, f"{done}; {why}: counted as changed")
    return Ran(CHANGED, done)


def _would(step: StepPlan, action: ShellAction) -> Ran:
    first = action.apply[0].describe or action.apply[0].command if action.apply else "nothing"
    more = f" and {len(action.apply) - 1} more" if len(action.apply) > 1 else ""
    why = "the probe says it is needed" if action.probe is not None else "no probe to ask"
    if step.changed_when is False:
        return Ran(OK, f"would run {first!r}{more} ({why}; changed_when: false)", False)
    return Ran(WOULD_CHANGE, f"would run {first!r}{more} ({why})", False)


def poll_attempt(runner: StepHost, step: StepPlan, action: PollAction, trail: Trail) -> Ran:
    """The probe, every `interval`, until it exits 0 or `timeout` has passed; check mode
    probes once. Only the last probe's command is in the note (every one is an event)."""
    clock = runner.session.clock
    started = clock.monotonic()
    deadline = started + action.timeout
    tries, timeout = 0, min(step.timeout, action.timeout)
    while True:
        tries += 1
        tried = Trail()
        result = runner.command(step, action.probe, tried, timeout=timeout)
        trail.commands[:], trail.exit_codes[:] = tried.commands, tried.exit_codes
        if result.ok:
            waited = format_duration(round(clock.monotonic() - started, 1))
            return Ran(OK, f"{action.what} (after {_tries(tries)}, {waited})")
        if runner.checking:
            return Ran(WOULD_CHANGE, f"would wait for {action.what}: not yet", False)
        left = deadline - clock.monotonic()
        if left <= 0:
            limit = format_duration(action.timeout)
            said = _said(result)  # a probe that could not tell says why (no nc, no curl)
            return Ran(FAILED, f"not {action.what} within {limit} ({_tries(tries)}){said}")
        if clock.sleep(min(action.interval, left), runner.cancel):
            return Ran(INTERRUPTED, f"interrupted while waiting for {action.what}")


def _probe_failure(result: CommandResult) -> str:
    """How a probe failed, by what it said rather than by its (long) script."""
    if result.timed_out:
        return f"timed out after {format_duration(round(result.duration))}"
    return f"exited {result.exit_code}{_said(result) or ''}"


def _said(result: CommandResult) -> str:
    tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
    return f": {tail[0][:200]}" if tail and tail[0] else ""


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"
