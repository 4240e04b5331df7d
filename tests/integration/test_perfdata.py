"""Nagios perfdata, from a real plugin (check_file_age) and a scripted one, kept with its units,
ranges and bounds through every output of a real `jarvisctl run`: the journal's check record,
`report` in JSON (against its schema), Markdown, HTML and JUnit (suite properties, against
junit-10.xsd) read back from the journal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema
from junitparser import JUnitXml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/run.schema.json").read_text())
PLUGINS = Path("/usr/lib/nagios/plugins")  # Debian monitoring-plugins-basic (scripts/test)
SCRIPTED = (
    "DISK WARNING - free space: /data 1357MB | '/ data'=2643MB;3000;3500;0;4000 "
    "time=12ms;;;0 used=87.5%;80;90 pkts=1234c fan=2400rpm idle=U load1=0.5"
)
PLAYBOOK = """\
- name: nagios
  hosts: all
  checks:
    - name: backup age
      use: command
      with:
        command: "{plugins}/check_file_age -w 60 -c 3600 -f {backup}"
        parse: nagios
        perf_label: age
    - name: scripted
      use: command
      with:
        command: "printf '%s\\\\n' \\"{scripted}\\"; exit 1"
        parse: nagios
"""


@dataclass(frozen=True)
class PerfProject:
    root: Path

    def jarvisctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jarvisctl", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def journal_checks(self) -> dict[str, dict[str, Any]]:
        (journal,) = (self.root / ".jarvisctl" / "runs").glob("*.jsonl")
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        return {r["data"]["check"]: r["data"] for r in records if r["kind"] == "check"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerfProject]:
    root = tmp_path_factory.mktemp("perfdata")
    backup = root / "db.tar"
    backup.write_bytes(b"x" * 1234)
    os.utime(backup, (time.time() - 300, time.time() - 300))
    (root / "inventory.yml").write_text("all:\n  hosts:\n    box: {ansible_connection: local}\n")
    (root / "play.yml").write_text(
        PLAYBOOK.format(plugins=PLUGINS, backup=backup, scripted=SCRIPTED)
    )
    project = PerfProject(root)
    ran = project.jarvisctl("run", "play.yml", "-i", "inventory.yml")
    assert ran.returncode == 1, ran.stdout + ran.stderr  # both plugins said WARNING
    yield project


def perf(
    label: str,
    value: float | None,
    uom: str = "",
    warn: str = "",
    crit: str = "",
    low: float | None = None,
    high: float | None = None,
) -> dict[str, Any]:
    return {
        "label": label,
        "value": value,
        "uom": uom,
        "warn": warn,
        "crit": crit,
        "min": low,
        "max": high,
    }


SCRIPTED_PERF = [
    perf("/ data", 2643.0, "MB", "3000", "3500", 0.0, 4000.0),
    perf("time", 12.0, "ms", "", "", 0.0),
    perf("used", 87.5, "%", "80", "90"),
    perf("pkts", 1234.0, "c"),
    perf("fan", 2400.0, "rpm"),
    perf("idle", None),
    perf("load1", 0.5),
]


def test_the_journal_keeps_perfdata_with_units_ranges_and_bounds(project: PerfProject) -> None:
    checks = project.journal_checks()
    assert checks["scripted"]["perfdata"] == SCRIPTED_PERF
    age, size = checks["backup age"]["perfdata"]
    assert size == perf("size", 1234.0, "B", "0", "0", 0.0)
    assert (age["label"], age["uom"], age["warn"], age["crit"]) == ("age", "s", "60", "3600")
    assert age["value"] is not None and 299 <= age["value"] <= 400
    assert checks["backup age"]["value"] == age["value"]  # perf_label: age


def test_the_json_report_has_perfdata_and_follows_its_schema(project: PerfProject) -> None:
    shown = project.jarvisctl("report", "last", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    jsonschema.validate(document, SCHEMA)
    (host,) = document["hosts"]
    checks = {c["name"]: c for c in host["checks"]}
    assert checks["scripted"]["perfdata"] == SCRIPTED_PERF
    assert [p["label"] for p in checks["backup age"]["perfdata"]] == ["age", "size"]


def test_markdown_and_html_reports_show_perfdata(project: PerfProject) -> None:
    markdown = project.jarvisctl("report", "last", "--format", "md").stdout
    line = next(x for x in markdown.splitlines() if x.startswith("- scripted: "))
    assert line == (
        "- scripted: / data=2643MB (warn 3000, crit 3500, min 0, max 4000); "
        "time=12ms (min 0); used=87.5% (warn 80, crit 90); pkts=1234c; fan=2400rpm; "
        "idle=U; load1=0.5"
    )
    assert re.search(r"^- backup age: age=\d+s \(warn 60, crit 3600\); size=1234B", markdown, re.M)
    html = project.jarvisctl("report", "last", "--format", "html").stdout
    assert '<li data-label="size">size=1234B (warn 0, crit 0, min 0)</li>' in html
    assert '<li data-label="/ data">/ data=2643MB (warn 3000, crit 3500, min 0, max 4000)</li>' in (
        html
    )


def test_junit_carries_perfdata_as_suite_properties(project: PerfProject) -> None:
    shown = project.jarvisctl("report", "last", "--format", "junit")
    assert shown.returncode == 0, shown.stderr
    xmlschema.XMLSchema(str(ROOT / "tests/schemas/junit-10.xsd")).validate(shown.stdout)
    (suite,) = JUnitXml.fromstring(shown.stdout)
    properties = {p.name: p.value for p in suite.properties()}
    disk = "2643MB (warn 3000, crit 3500, min 0, max 4000)"
    assert properties["perfdata.scripted./ data"] == disk
    assert properties["perfdata.scripted.idle"] == "U"
    assert properties["perfdata.backup age.size"] == "1234B (warn 0, crit 0, min 0)"
    assert len(properties) == len(SCRIPTED_PERF) + 2
