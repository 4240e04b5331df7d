"""A real `jarvisctl run` whose checks print ANSI colours, control characters and U+FFFE, then
`jarvisctl report last --format junit` and `run --report FILE.xml`: both validate against the
Jenkins xunit plugin's junit-10.xsd, and each check's time is the time its command took."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import xmlschema
from junitparser import Error, Failure, JUnitXml

ROOT = Path(__file__).resolve().parents[2]

PLAYBOOK = r"""
- name: colours
  hosts: localhost
  checks:
    - name: ansi
      use: command
      with: {command: "printf '\\033[1;31mFAIL\\033[0m \\001 \\357\\277\\276\\n'; exit 2"}
    - name: slow
      use: command
      with: {command: "sleep 0.6; echo 5"}
      warn: 1
    - name: quick
      use: command
      with: {command: "echo 0"}
      warn: 1
"""


def jarvisctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_that_printed_colours_gives_valid_junit_with_measured_times(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    run = jarvisctl(tmp_path, "run", "play.yml", "--report", "run.xml")
    assert run.returncode == 1, run.stdout + run.stderr
    report = jarvisctl(tmp_path, "report", "last", "--format", "junit", "-o", "report.xml")
    assert report.returncode == 0, report.stderr
    xsd = xmlschema.XMLSchema(str(ROOT / "tests/schemas/junit-10.xsd"))
    for name in ("run.xml", "report.xml"):
        xsd.validate(str(tmp_path / name))
    xml = JUnitXml.fromfile(str(tmp_path / "report.xml"))
    (suite,) = list(xml)
    counts = (suite.name, suite.tests, suite.failures, suite.errors)
    assert counts == ("localhost [colours]", 3, 1, 1)
    cases = {case.name: case for case in suite}
    ansi = cases["ansi"].result[0]
    assert isinstance(ansi, Error)
    assert "\\x1b[1;31mFAIL\\x1b[0m \\x01 \\ufffe" in (ansi.text or "")
    assert isinstance(cases["slow"].result[0], Failure)
    # each check's own command, measured on the controller; the host's session; the run
    assert 0.5 <= cases["slow"].time < suite.time <= xml.time
    assert 0 <= cases["quick"].time < 0.5 and cases["quick"].is_passed
