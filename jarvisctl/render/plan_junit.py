"""`jarvisctl plan --junit FILE`: one testsuite per playbook file; a valid file is one passing
testcase, an invalid one a failing testcase per problem, named and described by its location.

junit-10.xsd allows `file` on a testsuite but no `file` or `line` on a testcase (the Jenkins
xunit plugin refuses a report that has them), so each failure carries its `file:line:column`
in its name and message, where every JUnit reader shows it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from jarvisctl.core.errors import Problem
from jarvisctl.plan.model import Plan, PlaybookPlan
from jarvisctl.render.junit_xml import add, junit_time, serialize

CLASSNAME = "jarvisctl.plan"


def render_plan_junit(plan: Plan) -> str:
    failures = len(plan.problems)
    tests = sum(max(1, len(p.problems)) for p in plan.playbooks)
    suites = add(
        None,
        "testsuites",
        name="jarvisctl plan",
        tests=str(tests),
        failures=str(failures),
        errors="0",
        time=junit_time(plan.seconds),
    )
    timestamp = plan.generated_at.replace(microsecond=0).isoformat()
    for playbook in plan.playbooks:
        _suite(suites, playbook, timestamp)
    return serialize(suites)


def _suite(parent: ET.Element, playbook: PlaybookPlan, timestamp: str) -> None:
    suite = add(
        parent,
        "testsuite",
        name=playbook.file,
        tests=str(max(1, len(playbook.problems))),
        failures=str(len(playbook.problems)),
        errors="0",
        skipped="0",
        time=junit_time(playbook.seconds),
        timestamp=timestamp,
        file=playbook.file,
    )
    if playbook.ok:
        time = junit_time(playbook.seconds)
        add(suite, "testcase", classname=CLASSNAME, name=playbook.file, time=time)
    for problem in playbook.problems:
        _failed(suite, problem)


def _failed(suite: ET.Element, problem: Problem) -> None:
    """`file:line:column: what is wrong (what would be valid)` as the name (unique within the
    file, where two problems at one place would share a bare location) and the message."""
    located = str(problem)
    case = add(suite, "testcase", classname=CLASSNAME, name=located)
    add(case, "failure", located, message=located, type="ConfigError")
