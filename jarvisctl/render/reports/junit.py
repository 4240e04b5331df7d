"""A run's report as JUnit XML: one testsuite per host and play, one testcase per check.

Built with ElementTree through jarvisctl.render.junit_xml, so that whatever a check printed
(ANSI colours, NUL, U+FFFE) stays readable text in a valid document: a template could only
escape markup, and one control character made CI drop the whole report. `time` is what was
measured: each check's command, each host's session, the whole run; left out where nothing
was."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timezone

from jarvisctl.core.frozen import frozen
from jarvisctl.render.junit_xml import add, junit_time, serialize
from jarvisctl.render.reports.backup_entries import BackupAction, BackupEntry, entry_text
from jarvisctl.render.reports.document import (
    CheckEntry,
    HostSection,
    RunDocument,
    perf_value_text,
    value_text,
)
from jarvisctl.render.reports.step_entries import StepEntry

# A check's status → the JUnit result it becomes: a threshold crossed is a failure; UNKNOWN
# (the check could not measure) is an error; OK is a passing testcase.
_RESULT = {"warning": "failure", "critical": "failure", "unknown": "error"}


@frozen
class Case:
    name: str
    result: str | None  # failure, error, skipped, or None for a pass
    type: str
    message: str
    detail: str
    seconds: float | None


def render_junit(document: RunDocument) -> str:
    everything = [case for host in document.hosts for case in junit_cases(host)]
    suites = add(
        None,
        "testsuites",
        name=f"jarvisctl run {document.run_id}",
        tests=str(len(everything)),
        failures=str(_count(everything, "failure")),
        errors=str(_count(everything, "error")),
        time=junit_time(document.seconds),
    )
    started = datetime.fromtimestamp(document.started_at, timezone.utc)
    timestamp = started.strftime("%Y-%m-%dT%H:%M:%S")
    for host in document.hosts:
        _suite(suites, host, timestamp)
    return serialize(suites)


def _suite(parent: ET.Element, host: HostSection, timestamp: str) -> None:
    cases = junit_cases(host)
    suite = add(
        parent,
        "testsuite",
        name=f"{host.host} [{host.play}]",
        tests=str(len(cases)),
        failures=str(_count(cases, "failure")),
        errors=str(_count(cases, "error")),
        skipped=str(_count(cases, "skipped")),
        time=junit_time(host.seconds),
        timestamp=timestamp,
        hostname=host.host,
    )
    _perfdata(suite, host)
    for case in cases:
        _testcase(suite, f"{host.play}.{host.host}", case)


def _perfdata(suite: ET.Element, host: HostSection) -> None:
    """Nagios perfdata as the suite's properties, `perfdata.<check>.<label>`: junit-10.xsd
    allows properties in a testsuite only, not in a testcase."""
    items = [(check.name, datum) for check in host.checks for datum in check.perfdata]
    if items:
        properties = add(suite, "properties")
        for check, datum in items:
            name = f"perfdata.{check}.{datum.label}"
            add(properties, "property", name=name, value=perf_value_text(datum))


def _testcase(suite: ET.Element, classname: str, case: Case) -> None:
    element = add(
        suite, "testcase", classname=classname, name=case.name, time=junit_time(case.seconds)
    )
    if case.result == "skipped":
        add(element, "skipped", message=case.message)
    elif case.result is not None:
        add(element, case.result, case.detail, type=case.type, message=case.message)


def _count(cases: Sequence[Case], result: str) -> int:
    return sum(1 for case in cases if case.result == result)


def junit_cases(section: HostSection) -> list[Case]:
    """One testcase per host and check, per step and per backup (see _backup_case).
    WARNING/CRITICAL: <failure>; UNKNOWN: <error> (the check could not measure); an
    unreachable, failed or interrupted session: one 'session' case with <error>; a host the
    run did not work on (another run's lease, or not started before an interrupt): 'session'
    with <skipped> and the reason."""
    cases = [_check_case(c) for c in section.checks]
    cases += [_step_case(s) for s in section.steps]
    cases += [_backup_case(b) for b in section.backups]
    cases += [_action_case(a) for a in section.backup_actions]
    if section.outcome in ("unreachable", "failed", "interrupted"):
        cases.insert(0, _session(section, "error", section.outcome))
    elif section.outcome == "skipped":
        cases.insert(0, _session(section, "skipped", "skipped"))
    elif not cases:
        cases.append(_session(section, None, "ok"))
    return cases


def _session(section: HostSection, result: str | None, type_: str) -> Case:
    return Case("session", result, type_, section.error, section.error, section.seconds)


def _step_case(step: StepEntry) -> Case:
    """A step is a testcase `task 1 <name>`: failed is a <failure>, interrupted an <error>,
    skipped <skipped>; ok, changed and would change pass."""
    result = {"failed": "failure", "interrupted": "error", "skipped": "skipped"}
    ran = zip(step.commands, step.exit_codes, strict=False)  # an old journal's may differ
    detail = "\n".join((step.reason, *(f"$ {c}  (exit {x})" for c, x in ran)))
    name = f"{step.phase} {step.index + 1} {step.name}"
    return Case(name, result.get(step.outcome), step.outcome, step.reason, detail, step.seconds)


def _backup_case(backup: BackupEntry) -> Case:
    """A backup is a testcase `backup <name>`: taken passes, failed is a <failure>, interrupted
    an <error>, skipped (check mode, the session ended first) <skipped>."""
    result = {"failed": "failure", "interrupted": "error", "skipped": "skipped"}
    text = entry_text(backup)
    detail = "\n".join((text, *(f"source: {w}" for w in backup.what)))
    return Case(
        f"backup {backup.name}",
        result.get(backup.outcome),
        backup.outcome,
        text,
        detail,
        backup.seconds,
    )


def _action_case(action: BackupAction) -> Case:
    """A backup action from the CLI: `<action> <backup>`, a <failure> when it failed."""
    result = None if action.ok else "failure"
    seconds = action.record.get("seconds")
    time = float(seconds) if isinstance(seconds, int | float) else None
    name = f"{action.action} {action.backup}"
    return Case(name, result, action.action, action.summary, action.summary, time)


def _check_case(check: CheckEntry) -> Case:
    message = f"{check.status.upper()}: {check.reason or value_text(check)}"
    detail = "\n".join(
        part
        for part in (
            f"value: {value_text(check)}",
            f"command: {check.command}" if check.command else "",
            f"exit code: {check.exit_code}" if check.exit_code is not None else "",
            check.stdout_tail and f"stdout (tail):\n{check.stdout_tail}",
            check.stderr_tail and f"stderr (tail):\n{check.stderr_tail}",
        )
        if part
    )
    result = _RESULT.get(check.status)
    return Case(check.name, result, check.status, message, detail, check.seconds)
