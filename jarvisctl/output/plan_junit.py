"""`jarvisctl plan --junit FILE`: one testcase per playbook file, failing on its problems."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from jarvisctl.plan_model import Plan


def render_plan_junit(plan: Plan) -> str:
    failures = sum(1 for p in plan.playbooks if not p.ok)
    suites = ET.Element("testsuites", name="jarvisctl plan")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="jarvisctl plan",
        tests=str(len(plan.playbooks)),
        failures=str(failures),
        errors="0",
        skipped="0",
        timestamp=plan.generated_at.replace(microsecond=0).isoformat(),
    )
    for playbook in plan.playbooks:
        case = ET.SubElement(
            suite, "testcase", classname="jarvisctl.plan", name=playbook.file, file=playbook.file
        )
        if playbook.problems:
            count = len(playbook.problems)
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{count} configuration error{'s' if count != 1 else ''}: "
                f"{playbook.problems[0]}",
                type="ConfigError",
            )
            failure.text = "\n".join(str(p) for p in playbook.problems)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
