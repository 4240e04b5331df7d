"""One host's session for one play: all its checks in one round trip, then the evaluation."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import field, replace
from typing import Any

from jarvisctl.connection.base import Connection
from jarvisctl.connection.capture import OUTPUT_TAIL_BYTES, output_record
from jarvisctl.connection.shell import SCRIPT_ON_STDIN
from jarvisctl.core.clock import SYSTEM_CLOCK, Clock
from jarvisctl.core.errors import SessionInterruptedError, UnreachableError
from jarvisctl.core.events import (
    TAIL,
    Batch,
    Check,
    Command,
    Event,
    EventSink,
    HostConnected,
    HostFailed,
    HostInterrupted,
    HostUnreachable,
    Payload,
)
from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import CheckResult, HostRun, Outcome
from jarvisctl.engine.evaluate import collect_native, evaluate
from jarvisctl.engine.pool import ConnectionPool
from jarvisctl.engine.script import CommandCapture, ScriptOutput, compose_script
from jarvisctl.engine.sides import on_host
from jarvisctl.engine.statuses import advance, settle
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan.model import CheckPlan, HostPlan, PlayPlan
from jarvisctl.store.checks import CheckKey, CheckState, CheckStates


@frozen
class Session:
    """What a host's work needs, passed explicitly."""

    play: PlayPlan
    host: HostPlan
    registry: KindRegistry
    events: EventSink
    store: CheckStates | None = None
    cancel: threading.Event = field(default_factory=threading.Event)  # the run's stop
    clock: Clock = SYSTEM_CLOCK  # what the rules read time from (core/clock.py)

    def emit(self, payload: Payload) -> None:
        self.events.emit(Event(payload, self.host.host, self.play.name))

    def broken_off(self, outcome: Outcome, error: str) -> tuple[Outcome, str]:
        """How a session that ended early is reported, and the event that records it: once
        the run is stopped, its connections are closed under the hosts in flight, and what
        that breaks is the interrupt's doing, not the host's (never unreachable)."""
        if self.cancel.is_set():
            outcome = Outcome.INTERRUPTED
        address = self.host.connection
        if outcome is Outcome.INTERRUPTED:
            self.emit(HostInterrupted(address, error))
        elif outcome is Outcome.UNREACHABLE:
            self.emit(HostUnreachable(address, error))
        else:
            self.emit(HostFailed(error))
        return outcome, error


def observe_host(session: Session, pool: ConnectionPool) -> tuple[HostRun, Connection | None]:
    """Connect and run the host's checks. Never raises: every failure is the host's outcome."""
    host, started = session.host, time.monotonic()

    def ended(outcome: Outcome, error: str, key: str = "") -> HostRun:
        outcome, error = session.broken_off(outcome, error)
        return HostRun(
            host.host,
            session.play.name,
            host.connection,
            outcome,
            error=error,
            duration=time.monotonic() - started,
            host_key=key,
        )

    try:
        connection = pool.get(host.settings)
    except UnreachableError as exc:
        return ended(_unreachable(exc), str(exc)), None
    except Exception as exc:  # a bug below us (paramiko): this host's failure only
        return ended(Outcome.FAILED, f"{type(exc).__name__}: {exc}"), None
    key = getattr(connection, "host_key_fingerprint", None) or ""
    session.emit(
        HostConnected(
            address=host.connection,
            host_key=key,
            accepted_host_key=getattr(connection, "accepted_host_key", None),
            seconds=round(time.monotonic() - started, 4),
        )
    )
    if session.cancel.is_set():  # stopped while connecting: its checks do not start
        return ended(Outcome.INTERRUPTED, INTERRUPTED_CONNECTING, key), None
    # each check's record carries the command that measured it (one record a check, not two)
    ran: list[Command | None] = []
    try:
        scripted = on_host(session.registry, host.checks)  # the others: engine/after.py
        checks = run_checks(session, connection, scripted, purpose="checks", ran=ran)
        if session.store is not None:
            now = session.clock.now()
            checks = remember(session.store, host.host, session.play.name, scripted, checks, now)
    except UnreachableError as exc:  # the connection died under us, or the run's stop closed it
        emit_commands(session, ran)
        return ended(_unreachable(exc), str(exc), key), None
    except Exception as exc:
        emit_commands(session, ran)  # what ran is journaled, though its checks never end
        return ended(Outcome.FAILED, f"{type(exc).__name__}: {exc}", key), None
    for result, command in zip(checks, ran, strict=True):
        emit_check(session, result, command)
    run = HostRun(
        host.host,
        session.play.name,
        host.connection,
        Outcome.OK,
        checks,
        duration=time.monotonic() - started,
        host_key=key,
    )
    return run, connection


INTERRUPTED_CONNECTING = "interrupted while connecting: its checks did not start"


def _unreachable(error: UnreachableError) -> Outcome:
    interrupted = isinstance(error, SessionInterruptedError)
    return Outcome.INTERRUPTED if interrupted else Outcome.UNREACHABLE


def run_checks(
    session: Session,
    connection: Connection,
    checks: Sequence[CheckPlan],
    *,
    purpose: str,
    ran: list[Command | None] | None = None,
) -> tuple[CheckResult, ...]:
    """All the checks in ONE script on ONE exec channel, parsed on the controller.

    On a local host, kinds with a native collector measure in-process instead. Each command
    is journaled as a `command` record; with `ran`, it is put there instead (by the check's
    index; None: measured in-process), for the caller to journal with the check's status.
    """
    if ran is not None:
        ran[:] = [None] * len(checks)
    kinds: list[Any] = [session.registry.checks[c.kind] for c in checks]
    local = connection.settings.connection == "local"
    results: dict[int, CheckResult] = {}
    fallback: dict[int, str] = {}  # why a native collector was not used
    for i, kind in enumerate(kinds):
        if local and kind.native:
            measured = collect_native(checks[i], kind)
            if isinstance(measured, str):
                fallback[i] = f"command (native collector unavailable: {measured})"
            else:
                results[i] = measured
    scripted = [i for i in range(len(checks)) if i not in results]
    if scripted:
        captures = run_script(session, connection, [checks[i] for i in scripted], purpose)
        for i, capture in zip(scripted, captures, strict=True):
            command = command_record(purpose, checks[i], capture)
            if ran is None:
                session.emit(command)
            else:
                ran[i] = command
            output = None if capture is None else capture.output
            evaluated = evaluate(checks[i], kinds[i], output)
            if capture is not None and capture.truncated:
                evaluated = _said_truncated(evaluated, capture)
            results[i] = replace(evaluated, source=fallback[i]) if i in fallback else evaluated
    return tuple(results[i] for i in range(len(checks)))


def run_script(
    session: Session, connection: Connection, checks: Sequence[CheckPlan], purpose: str
) -> list[CommandCapture | None]:
    """The checks' commands in one script; when the controller ended one that overran its
    deadline, the commands after it in another script on the same connection, and so on."""
    captures: list[CommandCapture | None] = [None] * len(checks)
    left = list(range(len(checks)))
    while left:
        script = compose_script([(checks[i].command, checks[i].timeout) for i in left])
        reader = ScriptOutput(script)
        result = connection.run(
            SCRIPT_ON_STDIN, timeout=script.budget, stdin=script.text, sink=reader
        )
        session.emit(
            Batch(
                purpose=purpose,
                commands=len(left),
                exit_code=result.exit_code,
                seconds=round(result.duration, 4),
                timed_out=result.timed_out or reader.overrun is not None,
            )
        )
        for i, capture in zip(left, reader.captures(), strict=True):
            captures[i] = capture
        if reader.overrun is None:
            break  # all ran, or the script ended early for a reason of its own: not run again
        left = [i for i in left[reader.overrun + 1 :] if captures[i] is None]
    return captures


def _said_truncated(result: CheckResult, capture: CommandCapture) -> CheckResult:
    """A check that could not be read from a truncated output says that only a part was kept."""
    if result.value is not None or result.exit_code in (124, 137):
        return result
    out, err = capture.stdout, capture.stderr
    cut = " and ".join(
        f"{name} printed {digest.size} bytes"
        for name, digest in (("stdout", out), ("stderr", err))
        if digest.truncated
    )
    kept = OUTPUT_TAIL_BYTES // 1024
    note = f"the output was truncated: {cut}, only the last {kept} KiB of each were kept"
    return replace(result, reason=f"{result.reason} ({note})" if result.reason else note)


def command_record(purpose: str, check: CheckPlan, capture: CommandCapture | None) -> Command:
    if capture is None:  # the script ended before this command: no output, no digest
        return Command(purpose, check.name, check.command, None, "", "")
    output = capture.output
    return Command(
        purpose=purpose,
        check=check.name,
        command=check.command,
        exit_code=output.exit_code,
        stdout_tail=output.stdout[-TAIL:],
        stderr_tail=output.stderr[-TAIL:],
        seconds=None if capture.seconds is None else round(capture.seconds, 4),
        output=output_record(capture.stdout, capture.stderr),
    )


def emit_commands(session: Session, ran: Sequence[Command | None]) -> None:
    for command in ran:
        if command is not None:
            session.emit(command)


def emit_check(session: Session, result: CheckResult, command: Command | None = None) -> None:
    session.emit(
        Check(
            check=result.name,
            check_kind=result.kind,
            value=result.value,
            unit=result.unit,
            status=result.status.value,
            raw_status=(result.raw_status or result.status).value,
            previous_status=result.previous_status.value if result.previous_status else None,
            flapping=result.flapping,
            reason=result.reason,
            source=result.source,
            perfdata=tuple(datum.as_record() for datum in result.perfdata),
            ran=command,
        )
    )


def remember(
    store: CheckStates,
    host: str,
    play: str,
    plans: Sequence[CheckPlan],
    results: Sequence[CheckResult],
    now: float,
) -> tuple[CheckResult, ...]:
    """Apply each check's history (hysteresis, `for`, flapping) and persist the new state, as
    of `now` (the run's clock)."""
    keys = [(play, p.name) for p in plans]
    before: dict[CheckKey, CheckState] = {}

    def update(current: dict[CheckKey, CheckState]) -> dict[CheckKey, CheckState]:
        before.update(current)
        return {
            key: advance(current.get(key), r.status, r.value, p, now)
            for key, p, r in zip(keys, plans, results, strict=True)
        }

    after = store.update_host(host, keys, update)
    return tuple(
        settle(r, before.get(key), after[key], p)
        for key, p, r in zip(keys, plans, results, strict=True)
    )
