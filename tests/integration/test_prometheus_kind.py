"""The prometheus_query kind against a real Prometheus server (Debian's `prometheus` package),
started on loopback, scraping a tiny exporter that the test serves itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jarvisctl.kinds.base import CommandOutput, ParseError, Reading
from jarvisctl.kinds.monitoring import PrometheusParams, PrometheusQuery
from tests.waiting import free_port

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="no prometheus binary (Debian: apt-get install prometheus)"
)

EXPOSITION = b"""\
# HELP jarvis_queue_depth Jobs waiting, per queue.
# TYPE jarvis_queue_depth gauge
jarvis_queue_depth{queue="inference"} 7
jarvis_queue_depth{queue="backup"} 5
# HELP jarvis_ready Whether the service is ready.
# TYPE jarvis_ready gauge
jarvis_ready 1
"""
DEADLINE = 15.0  # seconds for the server to start and scrape the exporter at least once


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(EXPOSITION if self.path == "/metrics" else b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]
    except (OSError, ValueError, urllib.error.URLError):
        return None


@pytest.fixture(scope="module")
def exporter() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def prometheus(exporter: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("prometheus")
    (root / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: jarvis\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter}']}}]\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (root / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_sample(url, process, root / "prometheus.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_sample(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the target is up and its series are queryable; fail with the server's log."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited {process.returncode}:\n{log.read_text()[-2000:]}")
        answer = _get(f"{url}/api/v1/query?query=up%7Bjob%3D%22jarvis%22%7D%3D%3D1")
        ready = _get(f"{url}/api/v1/query?query=jarvis_ready")
        if answer and answer["data"]["result"] and ready and ready["data"]["result"]:
            return
        time.sleep(0.2)
    pytest.fail(f"no sample within {DEADLINE:g}s:\n{log.read_text()[-2000:]}")


def run_kind(**params: Any) -> tuple[CommandOutput, PrometheusParams]:
    """The kind's command run on this machine as the executor would run it on a host."""
    kind = PrometheusQuery()
    model = PrometheusParams.model_validate(params)
    done = subprocess.run(
        ["sh", "-c", kind.command(model)], capture_output=True, text=True, timeout=20
    )
    return CommandOutput(done.stdout, done.stderr, done.returncode), model


def read(**params: Any) -> Reading:
    output, model = run_kind(**params)
    return PrometheusQuery().read(output, model)


def test_one_series(prometheus: str) -> None:
    reading = read(url=prometheus, query="jarvis_ready")
    assert reading.value == 1.0
    assert 'instance="127.0.0.1:' in reading.summary


def test_scalar_and_arithmetic(prometheus: str) -> None:
    assert read(url=prometheus, query="scalar(jarvis_ready) * 2.5").value == 2.5


def test_several_series_need_an_aggregate(prometheus: str) -> None:
    output, model = run_kind(url=prometheus, query="jarvis_queue_depth")
    with pytest.raises(ParseError, match="query returned 2 series"):
        PrometheusQuery().parse(output, model)
    assert read(url=prometheus, query="jarvis_queue_depth", aggregate="sum").value == 12.0
    assert read(url=prometheus, query="jarvis_queue_depth", aggregate="max").value == 7.0
    assert read(url=prometheus, query="jarvis_queue_depth", aggregate="avg").value == 6.0


def test_a_label_selector_with_quotes_reaches_the_server_intact(prometheus: str) -> None:
    assert read(url=prometheus, query='jarvis_queue_depth{queue="backup"}').value == 5.0


def test_no_samples_is_an_error(prometheus: str) -> None:
    output, model = run_kind(url=prometheus, query="jarvis_no_such_metric")
    with pytest.raises(ParseError, match="query returned no samples"):
        PrometheusQuery().parse(output, model)


def test_bad_promql_says_what_the_server_said(prometheus: str) -> None:
    output, model = run_kind(url=prometheus, query="sum(rate(jarvis_ready[1m]")
    with pytest.raises(ParseError, match=r"Prometheus answered bad_data: .*parse error"):
        PrometheusQuery().parse(output, model)


def test_no_server(prometheus: str) -> None:
    output, model = run_kind(url=f"http://127.0.0.1:{free_port()}", query="up", max_time=2)
    with pytest.raises(ParseError, match=r"command exited 7: curl: \(7\)"):
        PrometheusQuery().parse(output, model)


PLAYBOOK = """\
- name: signals
  hosts: all
  checks:
    - name: queue depth
      use: prometheus_query
      with: {{url: "{url}", query: "max(jarvis_queue_depth)"}}
      warn: 5
      crit: 10
    - name: backup queue
      use: prometheus_query
      with: {{url: "{url}", query: 'jarvis_queue_depth{{queue="backup"}}'}}
      warn: 6
    - name: missing metric
      use: prometheus_query
      with: {{url: "{url}", query: jarvis_no_such_metric}}
      warn: 1
"""


def test_statuses_through_jarvisctl_run(prometheus: str, tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(url=prometheus))
    done = subprocess.run(
        [sys.executable, "-m", "jarvisctl", "run", "play.yml", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    checks = {c["name"]: c for c in json.loads(done.stdout)["hosts"][0]["checks"]}
    assert (checks["queue depth"]["status"], checks["queue depth"]["value"]) == ("warning", 7.0)
    assert (checks["backup queue"]["status"], checks["backup queue"]["value"]) == ("ok", 5.0)
    missing = checks["missing metric"]
    assert missing["status"] == "unknown"
    assert "query returned no samples" in missing["reason"]
