"""A reboot step: note the host's boot id, run the reboot command (the connection dropping
under it is expected), then reach the host again through the pool until it is back within the
step's `wait`, and (with `boot_id`) really rebooted: its boot id changed. The runner's
connection is the new one from then on."""

from __future__ import annotations

from jarvisctl.config.models.values import format_duration
from jarvisctl.connection.base import Connection
from jarvisctl.core.errors import AuthenticationError, HostKeyError, UnreachableError
from jarvisctl.core.results import StepOutcome
from jarvisctl.engine.reconnect import reconnect
from jarvisctl.engine.step_attempt import Ran, StepHost, Trail, failure
from jarvisctl.kinds.step_base import RebootAction
from jarvisctl.plan.model import StepPlan

BOOT_ID = "cat /proc/sys/kernel/random/boot_id"
BOOT_ID_TIMEOUT = 30.0
SIGNALLED = 128  # exit codes from here on: the command was ended by a signal (the reboot)


def reboot_attempt(runner: StepHost, step: StepPlan, action: RebootAction, trail: Trail) -> Ran:
    if runner.checking:
        shown = action.command.describe or action.command.command
        return Ran(StepOutcome.WOULD_CHANGE, f"would reboot the host with {shown!r}", False)
    before = None
    if action.boot_id:
        read = runner.command(step, BOOT_ID, trail, timeout=min(step.timeout, BOOT_ID_TIMEOUT))
        if not read.ok or not read.stdout.strip():
            why = failure(read) if not read.ok else f"{BOOT_ID!r} printed nothing"
            return Ran(StepOutcome.FAILED, f"cannot read the boot id before rebooting: {why}")
        before = read.stdout.strip()
    try:
        ran = runner.command(step, action.command, trail)
    except UnreachableError:
        if runner.cancel.is_set():
            raise
        trail.commands.append("(the connection dropped, as a reboot does)")
        trail.exit_codes.append(None)
    else:  # it ended by itself: with an error of its own (not a signal), it did not reboot
        if ran.exit_code is not None and 0 < ran.exit_code < SIGNALLED:
            return Ran(StepOutcome.FAILED, failure(ran))
    try:
        back = reconnect(
            runner.pool,
            runner.connection.settings,
            runner.connection,
            clock=runner.session.clock,
            cancel=runner.cancel,
            seconds=action.wait,
            back=lambda connection: _rebooted(connection, before, step.timeout),
            fatal=(HostKeyError, AuthenticationError),
        )
    except (HostKeyError, AuthenticationError) as exc:
        return Ran(StepOutcome.FAILED, f"the host came back, but cannot be trusted: {exc}")
    if back is None:
        if runner.cancel.is_set():
            return Ran(StepOutcome.INTERRUPTED, "interrupted while waiting for the host")
        wait = format_duration(action.wait)
        still = _reachable(runner) if before is not None else None
        if still is not None:  # it answers, with the same boot id: it never rebooted
            runner.connection = still
            return Ran(StepOutcome.FAILED, f"the host did not reboot within {wait} (same boot id)")
        return Ran(StepOutcome.FAILED, f"the host did not come back within {wait}")
    runner.connection = back
    how = " (new boot id)" if before is not None else ""
    return Ran(StepOutcome.CHANGED, f"rebooted and back{how}")


def _rebooted(connection: Connection, before: str | None, timeout: float) -> bool:
    """Whether the host answering on `connection` has rebooted (without a boot id to compare:
    that it answers)."""
    if before is None:
        return True
    read = connection.run(BOOT_ID, timeout=min(timeout, BOOT_ID_TIMEOUT))
    return read.ok and bool(read.stdout.strip()) and read.stdout.strip() != before


def _reachable(runner: StepHost) -> Connection | None:
    """A connection to the host if it answers now (to tell 'did not reboot' from 'did not
    come back')."""
    try:
        return runner.pool.get(runner.connection.settings)
    except UnreachableError:
        return None
