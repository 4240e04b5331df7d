"""One host's session for one play: all its checks in one round trip, then the evaluation."""

from __future__ import annotations

import time
from typing import Any

from jarvisctl.connection.base import Connection
from jarvisctl.errors import UnreachableError
from jarvisctl.evaluate import collect_native, evaluate
from jarvisctl.executor.pool import ConnectionPool
from jarvisctl.executor.script import compose_script, split_outputs
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan_model import CheckPlan, HostPlan, PlayPlan
from jarvisctl.results import CheckResult, HostRun, Outcome, RemediationNote, Status
from jarvisctl.state import CheckKey, StateStore
from jarvisctl.statuses import CheckState, advance, settle

NOT_EXECUTED = (
    "remediations are not executed by this version of jarvisctl; "
    "`jarvisctl run --check` and `jarvisctl plan` show what would run"
)


def run_host(
    play: PlayPlan,
    host: HostPlan,
    pool: ConnectionPool,
    registry: KindRegistry,
    mode: str,
    store: StateStore | None = None,
) -> HostRun:
    """Never raises: every failure becomes this host's outcome."""
    started = time.monotonic()
    address = host.connection
    try:
        connection = pool.get(host.settings)
    except UnreachableError as exc:
        return HostRun(
            host.host,
            play.name,
            address,
            Outcome.UNREACHABLE,
            error=str(exc),
            duration=time.monotonic() - started,
        )
    fingerprint = getattr(connection, "host_key_fingerprint", None) or ""
    try:
        checks = run_checks(connection, host.checks, registry)
        if store is not None:
            checks = remember(store, host.host, play.name, host.checks, checks)
    except UnreachableError as exc:  # the connection died under us
        return HostRun(
            host.host,
            play.name,
            address,
            Outcome.UNREACHABLE,
            error=str(exc),
            duration=time.monotonic() - started,
            host_key=fingerprint,
        )
    except Exception as exc:
        return HostRun(
            host.host,
            play.name,
            address,
            Outcome.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            duration=time.monotonic() - started,
            host_key=fingerprint,
        )
    notes = remediation_notes(host.checks, checks, mode)
    return HostRun(
        host.host,
        play.name,
        address,
        Outcome.OK,
        checks,
        notes,
        duration=time.monotonic() - started,
        host_key=fingerprint,
    )


def run_checks(
    connection: Connection, checks: tuple[CheckPlan, ...], registry: KindRegistry
) -> tuple[CheckResult, ...]:
    """All checks of one host in ONE script on ONE exec channel, parsed on the controller.

    On a local host, kinds with a native collector measure in-process instead.
    """
    kinds: list[Any] = [registry.checks[c.kind] for c in checks]
    local = connection.settings.connection == "local"
    native = {i for i, kind in enumerate(kinds) if local and kind.native}
    scripted = [i for i in range(len(checks)) if i not in native]
    results: dict[int, CheckResult] = {i: collect_native(checks[i], kinds[i]) for i in native}
    if scripted:
        script = compose_script([(checks[i].command, checks[i].timeout) for i in scripted])
        result = connection.run("sh -s", timeout=script.budget, stdin=script.text)
        outputs = split_outputs(script, result.stdout, result.stderr)
        for i, output in zip(scripted, outputs, strict=True):
            results[i] = evaluate(checks[i], kinds[i], output)
    return tuple(results[i] for i in range(len(checks)))


def remember(
    store: StateStore,
    host: str,
    play: str,
    plans: tuple[CheckPlan, ...],
    results: tuple[CheckResult, ...],
) -> tuple[CheckResult, ...]:
    """Apply each check's history (hysteresis, `for`, flapping) and persist the new state."""
    now = time.time()
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


def remediation_notes(
    plans: tuple[CheckPlan, ...], results: tuple[CheckResult, ...], mode: str
) -> tuple[RemediationNote, ...]:
    """What each failing check's remediation ladder would do; none is executed here."""
    notes: list[RemediationNote] = []
    for plan, result in zip(plans, results, strict=True):
        if result.status is Status.OK:
            continue
        for rung in plan.remediations:
            if result.status.value not in rung.on:
                continue
            if mode == "check":
                reason = f"{plan.name} is {result.status.value} (check mode: nothing is changed)"
                notes.append(
                    RemediationNote(plan.name, rung.use, "would run", reason, rung.commands)
                )
            else:
                notes.append(RemediationNote(plan.name, rung.use, "skipped", NOT_EXECUTED))
            break  # the ladder's next rung is only for when this one does not verify
    return tuple(notes)
