"""Both JUnit outputs (the run report's, `plan --junit`) against the strictest reader CI has, the
Jenkins xunit plugin's junit-10.xsd (tests/schemas/), then read back field by field with
junitparser: whatever a check printed, the document stays valid and every result in it is kept."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest
import xmlschema
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from junitparser import Error, Failure, JUnitXml, Skipped

from jarvisctl.cli.main import cli
from jarvisctl.core.events import CHECK, COMMAND, HOST_CONNECTED, RUN_FINISHED, RUN_STARTED, Event
from jarvisctl.record.audit import Verification
from jarvisctl.record.recording import record_run
from jarvisctl.render.junit_xml import xml_text
from jarvisctl.render.reports.document import CheckEntry, HostSection, RunDocument
from jarvisctl.render.reports.load import load_document
from jarvisctl.render.reports.render import render
from tests.events import raw

ROOT = Path(__file__).resolve().parents[2]
RUN = "20260102T030405Z-0a0b0c"
# What a check may print that XML 1.0 forbids: ANSI colours (ESC), NUL, BEL, U+FFFE, U+FFFF.
HOSTILE = "\x1b[31mred\x1b[0m \x00 \x07 \ufffe \uffff"
SHOWN = "\\x1b[31mred\\x1b[0m \\x00 \\x07 \\ufffe \\uffff"


@pytest.fixture(scope="module")
def xsd() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(ROOT / "tests/schemas/junit-10.xsd"))


class Collector:
    def emit(self, event: Event) -> None:
        pass


def emit_run(state_dir: Path) -> None:
    """web1: a CRITICAL check whose output is full of control characters, an OK one, an UNKNOWN
    one; web2: skipped. Every duration recorded, as the executor records them."""
    with record_run(state_dir, RUN, frozenset(), Collector()) as recording:

        def emit(kind: str, host: str | None = None, **data: object) -> None:
            recording.events.emit(raw(kind, host, "p" if host else None, data))

        emit(RUN_STARTED, run_id=RUN, mode="run", hosts=["web1", "web2"], pid=1)
        emit(HOST_CONNECTED, "web1", address="ssh web1:22", host_key="SHA256:k")
        for name, seconds, out in (("colour", 0.25, HOSTILE), ("load", 0.125, "0.5\n")):
            emit(
                COMMAND,
                "web1",
                purpose="checks",
                check=name,
                command=f"show {name}",
                exit_code=0,
                stdout_tail=out,
                stderr_tail=f"err {HOSTILE}",
                seconds=seconds,
            )
        emit(
            CHECK,
            "web1",
            check="colour",
            value=95.0,
            unit="%",
            status="critical",
            reason=f"95 crossed crit >= 90 {HOSTILE}",
        )
        emit(CHECK, "web1", check="load", value=0.5, unit="", status="ok", reason="")
        emit(
            CHECK,
            "web1",
            check="native",
            value=None,
            unit="",
            status="unknown",
            reason="no \x1b thermal zone",
        )
        hosts = [
            {"host": "web1", "play": "p", "outcome": "ok", "seconds": 1.5, "error": ""},
            {"host": "web2", "play": "p", "outcome": "skipped", "seconds": 0.0, "error": "gone"},
        ]
        emit(RUN_FINISHED, interrupted=False, recap={}, hosts=hosts, seconds=2.25)


def test_a_report_whose_checks_printed_control_characters_is_valid_and_complete(
    tmp_path: Path, xsd: xmlschema.XMLSchema
) -> None:
    emit_run(tmp_path)
    path = tmp_path / "r.xml"
    path.write_text(render(load_document(tmp_path, RUN), "junit"), encoding="utf-8")
    xsd.validate(str(path))
    xml = JUnitXml.fromfile(str(path))
    assert (xml.name, xml.tests, xml.failures, xml.errors, xml.time) == (
        f"jarvisctl run {RUN}",
        4,
        1,
        1,
        2.25,
    )
    suites = {suite.name: suite for suite in xml}
    web1, web2 = suites["web1 [p]"], suites["web2 [p]"]
    assert (web1.tests, web1.failures, web1.errors, web1.skipped, web1.time) == (3, 1, 1, 0, 1.5)
    started = datetime.fromtimestamp(load_document(tmp_path, RUN).started_at, timezone.utc)
    assert (web1.hostname, web1.timestamp) == ("web1", started.strftime("%Y-%m-%dT%H:%M:%S"))
    cases = {case.name: case for case in web1}
    assert {c.classname for c in cases.values()} == {"p.web1"}
    assert (cases["colour"].time, cases["load"].time) == (0.25, 0.125)
    colour = cases["colour"].result
    assert len(colour) == 1 and isinstance(colour[0], Failure)
    assert colour[0].type == "critical"
    assert colour[0].message == f"CRITICAL: 95 crossed crit >= 90 {SHOWN}"
    assert f"stdout (tail):\n{SHOWN}" in (colour[0].text or "")
    assert f"stderr (tail):\nerr {SHOWN}" in (colour[0].text or "")
    assert cases["load"].is_passed
    unknown = cases["native"].result
    assert isinstance(unknown[0], Error) and unknown[0].message == "UNKNOWN: no \\x1b thermal zone"
    assert ET.parse(path).find(".//testcase[@name='native']").get("time") is None  # type: ignore[union-attr]
    assert (web2.tests, web2.skipped, web2.time) == (1, 1, 0.0)
    skipped = next(iter(web2)).result
    assert isinstance(skipped[0], Skipped) and skipped[0].message == "gone"


def _hostile_text() -> st.SearchStrategy[str]:
    """Any text, lone surrogates included (what the journal or a terminal might hand over)."""
    return st.text(st.characters(codec=None, categories=None), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_hostile_text(), reason=_hostile_text(), out=_hostile_text(), host=_hostile_text())
def test_any_text_anywhere_gives_a_valid_document_that_shows_it(
    xsd: xmlschema.XMLSchema, name: str, reason: str, out: str, host: str
) -> None:
    check = CheckEntry(name, "command", "warning", "warning", 1.0, "", reason, stdout_tail=out)
    section = HostSection(host, "p", outcome="failed", error=reason, seconds=0.5, checks=(check,))
    verification = Verification(RUN, 1, "", True)
    document = RunDocument(RUN, verification, 0.0, {}, (section,), seconds=1.0)
    text = render(document, "junit")
    xsd.validate(text)
    root = ET.fromstring(text)
    suite = root.find("testsuite")
    assert suite is not None and suite.get("hostname") == xml_text(host)
    failure = root.find(".//failure")
    assert failure is not None
    assert failure.get("message") == xml_text(f"WARNING: {reason or '1'}")
    shown = xml_text(out).replace("\r\n", "\n").replace("\r", "\n")  # XML's line ends
    assert shown in (failure.text or "")
    error = root.find(".//error")
    assert error is not None and error.get("message") == xml_text(reason)


def test_xml_text_keeps_what_xml_allows_and_shows_the_rest() -> None:
    assert xml_text("tab\tnew\nline\rémoji 🙂 \u2028") == "tab\tnew\nline\rémoji 🙂 \u2028"
    assert xml_text(HOSTILE) == SHOWN
    assert xml_text("\ud800") == "\\ud800"


FIVE_MISTAKES = """\
- name: p
  hosts: all
  checks:
    - {use: swap_used, tmeout: 3}
    - {use: disk_usage, with: {path: /}, warn: "\\x1b[31m"}
"""


def plan_junit(tmp_path: Path, *files: str) -> tuple[int, str]:
    """`jarvisctl plan FILES --junit out/plan.xml`: the exit code and standard error."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["plan", *files, "--junit", "out/plan.xml"])
    return result.exit_code, result.stderr


def test_plan_junit_validates_and_each_failure_has_its_file_and_line(
    tmp_path: Path, xsd: xmlschema.XMLSchema
) -> None:
    (tmp_path / "bad.yml").write_text(FIVE_MISTAKES)
    (tmp_path / "good.yml").write_text(
        textwrap.dedent("""\
        - name: ok
          hosts: all
          checks: [{use: swap_used}]
        """)
    )
    code, stderr = plan_junit(tmp_path, "bad.yml", "good.yml")
    assert code == 3
    path = tmp_path / "out/plan.xml"
    xsd.validate(str(path))
    xml = JUnitXml.fromfile(str(path))
    assert (xml.tests, xml.failures, xml.errors) == (3, 2, 0)
    assert xml.time > 0
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"bad.yml", "good.yml"}
    assert {s.get("name"): s.get("file") for s in ET.parse(path).iter("testsuite")} == {
        "bad.yml": "bad.yml",
        "good.yml": "good.yml",
    }
    good = list(suites["good.yml"])
    assert [c.name for c in good] == ["good.yml"] and good[0].is_passed
    bad = suites["bad.yml"]
    assert (bad.tests, bad.failures, bad.errors, bad.skipped) == (2, 2, 0, 0)
    # measured (a small file plans in well under a millisecond): within the whole plan's time
    assert 0 <= bad.time <= xml.time and 0 <= suites["good.yml"].time <= xml.time
    assert good[0].time == suites["good.yml"].time
    assert ET.parse(path).find("testsuite/testcase[@name='good.yml']").get("time")  # type: ignore[union-attr]
    printed = [line.removeprefix("error: ") for line in stderr.splitlines()]
    assert [c.name for c in bad] == printed  # the located messages the console shows
    assert printed[0].startswith("bad.yml:4:24: unknown key 'tmeout'")
    assert printed[1].startswith("bad.yml:5:48: 'warn': invalid threshold '\\x1b[31m'")
    for case in bad:
        failure = case.result[0]
        assert isinstance(failure, Failure) and failure.type == "ConfigError"
        assert failure.message == case.name == failure.text
