"""The metrics against the programs that read them, on loopback: promtool on a metrics file and
on the daemon's /metrics; a real node_exporter textfile collector serving two metrics files of
the same playbook side by side; a real Prometheus scraping a real daemon, whose stored series
carry the labels README.md documents (no `exported_job`) and the daemon's process metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jarvisctl.render.metric_scheme import JOB
from tests.waiting import free_port, wait_for

pytestmark = pytest.mark.slow

# Installed by scripts/test (Debian prometheus-node-exporter and prometheus): required here.
NODE_EXPORTER = "prometheus-node-exporter"
PLUGIN = """\
echo "DISK WARNING | '/ data'=2643MB;3000;3500;0;4000 time=12ms;;;0 used=87.5%;80;90 pkts=1234c"
exit 1
"""
PLAYBOOK = """\
- name: nagios
  hosts: all
  schedule: {{every: 1s}}
  checks:
    - name: disk
      use: command
      with: {{command: "sh {plugin}", parse: nagios}}
    - name: level
      use: command
      with: {{command: "echo 5"}}
      warn: 3
"""


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: scripts/test installs it"
    return found


def jarvisctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jarvisctl", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@contextmanager
def started(
    command: list[str], log: Path, url: str, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server on loopback until its URL answers; stopped (then killed) at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:

        def up() -> bool:
            assert process.poll() is None, f"{command[0]} exited:\n{log.read_text()[-2000:]}"
            return http_get(url)[0] == 200

        wait_for(up, 30, f"{command[0]} at {url}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found.setdefault(s.name, []).append((s.labels, s.value))
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("metrics")
    (root / "playbooks").mkdir()
    (root / "plugin.sh").write_text(PLUGIN)
    (root / "playbooks" / "nagios.yml").write_text(PLAYBOOK.format(plugin=root / "plugin.sh"))
    (root / "inventory.yml").write_text("all:\n  hosts:\n    box: {ansible_connection: local}\n")
    (root / "textfiles").mkdir()
    return root


def test_two_metrics_files_coexist_in_node_exporter(project: Path, tmp_path: Path) -> None:
    for name in ("nightly", "hourly"):  # the same playbook, twice: every series in common
        args = ["-i", "inventory.yml", "--metrics-file", f"textfiles/{name}.prom"]
        ran = jarvisctl(project, "run", "playbooks/nagios.yml", *args)
        assert ran.returncode == 1, ran.stdout + ran.stderr  # the checks said WARNING
        checked = subprocess.run(
            [tool("promtool"), "check", "metrics"],
            input=(project / "textfiles" / f"{name}.prom").read_text(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    command = [
        tool(NODE_EXPORTER),
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={project / 'textfiles'}",
    ]
    log = tmp_path / "node_exporter.log"
    with started(command, log, url):
        http_get(url)  # a gathering error is counted in the scrape after it
        code, text = http_get(url)
    assert code == 200, text
    found = samples(text)
    for family in ("jarvisctl_run_timestamp_seconds", "jarvisctl_check_status_code"):
        sources = [labels["source"] for labels, _ in found.get(family, [])]
        assert set(sources) == {"hourly", "nightly"}, family
        assert sources.count("hourly") == sources.count("nightly"), family
    disk = [
        labels["source"]
        for labels, value in found["jarvisctl_check_perfdata_bytes"]
        if labels["perf_label"] == "/ data" and value == 2643 * 1024**2
    ]
    assert sorted(disk) == ["hourly", "nightly"]
    assert found["node_textfile_scrape_error"] == [({}, 0.0)]
    gathering = [v for labels, v in found["promhttp_metric_handler_errors_total"]]
    assert gathering == [0.0] * len(gathering)
    assert "error gathering metrics" not in log.read_text()


def test_a_metrics_file_not_named_prom_is_refused_before_the_run(project: Path) -> None:
    before = sorted((project / ".jarvisctl" / "runs").glob("*.jsonl"))
    ran = jarvisctl(project, "run", "playbooks/nagios.yml", "--metrics-file", "textfiles/m.txt")
    assert ran.returncode == 6, ran.stdout + ran.stderr
    assert "node_exporter's textfile collector reads only files named *.prom" in ran.stderr
    assert "(e.g. m.prom)" in ran.stderr and "Traceback" not in ran.stderr
    assert sorted((project / ".jarvisctl" / "runs").glob("*.jsonl")) == before  # no run
    assert not (project / "textfiles" / "m.txt").exists()


@pytest.fixture
def daemon(project: Path, tmp_path: Path) -> Iterator[int]:
    """`jarvisctl daemon` on the project, its nagios play every second, on a loopback port."""
    port = free_port()
    (project / "jarvisctl.yml").write_text(
        "playbooks: [playbooks]\ninventory: inventory.yml\n"
        f"daemon:\n  listen: 127.0.0.1:{port}\n  stop_timeout: 10s\n"
    )
    command = [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"]
    url = f"http://127.0.0.1:{port}/healthz"
    with started(command, tmp_path / "daemon.log", url, cwd=project) as process:
        assert process.poll() is None
        yield port


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    code, body = http_get(f"{prometheus}/api/v1/query?query={urllib.parse.quote(promql)}")
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"] if code == 200 else []
    return result


def test_prometheus_scrapes_the_daemon_with_the_documented_labels(
    daemon: int, tmp_path: Path
) -> None:
    metrics = f"http://127.0.0.1:{daemon}/metrics"
    wait_for(lambda: "jarvisctl_check_perfdata_bytes" in http_get(metrics)[1], 30, "a cycle")
    checked = subprocess.run(
        [tool("promtool"), "check", "metrics"],
        input=http_get(metrics)[1],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: jarvis\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{daemon}']}}]\n"
    )
    prometheus = f"http://127.0.0.1:{port}"
    command = [
        tool("prometheus"),
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with started(command, tmp_path / "prometheus.log", f"{prometheus}/-/ready"):
        runs = wait_for(lambda: query(prometheus, "jarvisctl_job_runs_total"), 30, "a scrape")
        status = query(prometheus, 'jarvisctl_check_status{check="disk"} == 1')
        process = query(prometheus, 'process_resident_memory_bytes{job="jarvis"}')
        code, body = http_get(f"{prometheus}/api/v1/labels")
    labels = set(json.loads(body)["data"])
    assert code == 200 and "exported_job" not in labels and "exported_instance" not in labels
    for series in runs:
        assert set(series["metric"]) == {"__name__", "job", "instance", *JOB, "outcome"}
        assert series["metric"]["job"] == "jarvis"  # Prometheus's own, not overwritten
        assert (series["metric"]["playbook"], series["metric"]["play"]) == (
            "playbooks/nagios.yml",
            "nagios",
        )
    assert [s["metric"]["status"] for s in status] == ["warning"]
    assert process and float(process[0]["value"][1]) > 0
