"""Real `jarvisctl run` invocations, then every output read back: the journal, the four report
formats, the console, the metrics file. Secrets must appear in none of them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml

from tests.integration.run_project import SECRETS, Project, make_project

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/run.schema.json").read_text())
FORMATS = {"md": "report.md", "html": "report.html", "json": "report.json", "junit": "report.xml"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """Two runs: zulu's level goes from warning (85) to critical (95), so history has two points."""
    project = make_project(tmp_path_factory.mktemp("reports") / "project", bad_level=85)
    first = project.run()
    assert first.returncode == 1, first.stderr
    (project.root / "bad.txt").write_text("95\n")
    (project.root / "metrics").mkdir()
    second = project.run("--report", "run-report.html", "--metrics-file", "metrics/jarvis.prom")
    assert second.returncode == 1, second.stderr
    (project.root / "console.txt").write_text(
        first.stdout + first.stderr + second.stdout + second.stderr
    )
    for fmt, name in FORMATS.items():
        result = project.jarvisctl("report", "last", "--format", fmt, "-o", name)
        assert result.returncode == 0, result.stderr
    yield project


def test_no_output_of_a_run_contains_a_secret(project: Project) -> None:
    stdout = project.jarvisctl("report", "last", "--format", "json").stdout
    json_run = project.run("--json")  # the run's own JSON on stdout, and its console
    shown = project.jarvisctl("runs", "show", "last", "--json").stdout
    outputs = {
        **{str(p): p.read_text() for p in project.journals()},
        **{name: (project.root / name).read_text() for name in FORMATS.values()},
        "run-report.html": (project.root / "run-report.html").read_text(),
        "metrics": (project.root / "metrics/jarvis.prom").read_text(),
        "console": (project.root / "console.txt").read_text(),
        "report stdout": stdout,
        "run --json": json_run.stdout + json_run.stderr,
        "runs show": shown,
    }
    assert len(project.journals()) == 3
    for secret in SECRETS:
        leaks = [name for name, text in outputs.items() if secret in text]
        assert leaks == [], f"{secret!r} leaked into {leaks}"
    # the secrets were really used: the redacted command is in the journal, masked
    journal = project.journals()[-1].read_text()
    assert "echo *** >&2; cat bad.txt" in journal or "echo ***" in journal
    assert "auth *** ***" in journal


def test_the_json_report_follows_its_schema(project: Project) -> None:
    document = json.loads((project.root / "report.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["status"] == "not_ok" and document["complete"] is True
    assert [h["host"] for h in document["hosts"]] == ["zulu", "alpha"]  # failures first
    level = next(c for c in document["hosts"][0]["checks"] if c["name"] == "level")
    # each run's document has its own values (run/v2 has no history); Markdown charts them
    first_run = project.journals()[0].stem
    first = json.loads(project.jarvisctl("report", first_run, "--format", "json").stdout)
    zulu = next(h for h in first["hosts"] if h["host"] == "zulu")
    earlier = next(c for c in zulu["checks"] if c["name"] == "level")
    assert [earlier["value"], level["value"]] == [85.0, 95.0]
    assert [earlier["status"], level["status"]] == ["warning", "critical"]
    assert "| 85 95 |" in (project.root / "report.md").read_text()


def test_junit_is_read_by_junitparser(project: Project) -> None:
    xml = JUnitXml.fromfile(str(project.root / "report.xml"))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"zulu [health]", "alpha [health]"}
    zulu = suites["zulu [health]"]
    assert (zulu.tests, zulu.failures, zulu.errors) == (4, 1, 1)
    results = {case.name: case.result for case in zulu}
    assert isinstance(results["level"][0], Failure)
    assert results["level"][0].type == "critical"
    assert isinstance(results["broken"][0], Error)
    assert results["uptime"] == []


def test_the_metrics_file_passes_promtool(project: Project) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package: prometheus)")
    path = project.root / "metrics/jarvis.prom"
    text = path.read_text()
    level = 'check="level",host="zulu",play="health",source="jarvis"'
    assert f'jarvisctl_check_value{{{level},unit=""}} 95.0' in text
    broken = 'check="broken",host="alpha",play="health",source="jarvis"'
    assert f"jarvisctl_check_status_code{{{broken}}} 3.0" in text
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert [p.name for p in path.parent.iterdir()] == ["jarvis.prom"]  # no temporary left


def test_audit_verify_passes_then_fails_once_the_journal_is_edited(project: Project) -> None:
    journal = project.journals()[-1]
    run_id = journal.stem
    intact = project.jarvisctl("audit", "verify", run_id)
    assert intact.returncode == 0 and ": OK: " in intact.stdout, intact.stdout + intact.stderr
    original = journal.read_bytes()
    try:
        journal.write_bytes(original.replace(b'"value":95.0', b'"value":45.0'))
        edited = project.jarvisctl("audit", "verify", run_id)
        assert edited.returncode == 1 and "TAMPERED" in edited.stdout
        refused = project.jarvisctl("report", run_id)
        assert refused.returncode == 1 and "fails verification" in refused.stderr
        journal.write_bytes(b"".join(original.splitlines(keepends=True)[:-2]))
        truncated = project.jarvisctl("audit", "verify", run_id)
        assert truncated.returncode == 1 and "truncated" in truncated.stdout
    finally:
        journal.write_bytes(original)


def test_unknown_run_and_unwritable_output_are_clear_errors(project: Project) -> None:
    unknown = project.jarvisctl("report", "20200101T000000Z-000000")
    assert unknown.returncode == 2 and "no run '20200101T000000Z-000000'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    unwritable = project.jarvisctl("report", "last", "-o", "missing-dir/report.md")
    assert unwritable.returncode == 6 and "no directory missing-dir" in unwritable.stderr
    before = len(project.journals())
    refused = project.run("--metrics-file", "missing-dir/m.prom")
    assert refused.returncode == 6 and len(project.journals()) == before  # no run started


def test_runs_lists_and_filters(project: Project) -> None:
    listed = json.loads(project.jarvisctl("runs", "--json").stdout)
    assert len(listed) >= 2 and all(r["status"] == "not_ok" for r in listed)
    assert json.loads(project.jarvisctl("runs", "--host", "nohost", "--json").stdout) == []
    assert json.loads(project.jarvisctl("runs", "--status", "ok", "--json").stdout) == []
    recent = json.loads(
        project.jarvisctl("runs", "--since", "1h", "--host", "zulu", "--json").stdout
    )
    assert recent and recent[0]["hosts"] == ["alpha", "zulu"]
    assert recent[0]["counts"]["critical"] == 1


def _chromium(*args: str, user_dir: Path) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (Debian package: chromium)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={user_dir}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


CONSOLE = re.compile(r":CONSOLE(?:\(\d+\)|:\d+)\] \"(.*)\"")


def test_chromium_reports_console_errors_when_there_are_some(tmp_path: Path) -> None:
    """The probe the next test relies on: a page that logs an error is seen to log it."""
    page = tmp_path / "probe.html"
    page.write_text("<!DOCTYPE html><script>console.error('probe-error')</script>")
    result = _chromium("--dump-dom", page.as_uri(), user_dir=tmp_path / "profile")
    assert "probe-error" in CONSOLE.findall(result.stderr)


def test_the_html_report_renders_in_chromium_failures_first(
    project: Project, tmp_path: Path
) -> None:
    page = project.root / "run-report.html"
    text = page.read_text()
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    dom = _chromium("--dump-dom", page.as_uri(), user_dir=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert CONSOLE.findall(dom.stderr) == []
    html = dom.stdout
    assert html.index('id="summary"') < html.index('id="failing"') < html.index('id="hosts"')
    failing = re.findall(r'class="failing-check" data-host="(\w+)" data-check="(\w+)"', html)
    assert failing == [("zulu", "level"), ("zulu", "broken"), ("alpha", "broken")]
    hosts = re.findall(r'<article class="host" data-host="(\w+)"', html)
    assert hosts == ["zulu", "alpha"]
    assert html.count("<svg") == 7  # inline, for each of the 7 rows whose check has values
    shot = project.root / "report.png"
    taken = _chromium(
        f"--screenshot={shot}", "--window-size=1200,1400", page.as_uri(), user_dir=tmp_path / "p2"
    )
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
