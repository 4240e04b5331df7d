"""Every check kind except the Jetson ones, run for real on an sshd test host and locally.

Services the kinds look at are real and local: an HTTP server, a TLS server with a fresh
certificate, a Prometheus-style query endpoint, files of known age and size.

Each run happens twice: with this machine's PATH, and with a bare PATH that holds only the
commands every Debian has (tests/host_tools.py), so both sides of each kind's "tool present /
tool absent" promise are checked on any machine. A check whose tool or subsystem is missing must
say so, UNKNOWN with a reason that names what is missing, never a silent OK or a value.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sshd import SshdFleet
from tests.waiting import free_port

pytestmark = pytest.mark.e2e

# Checks on a subsystem a machine may or may not run (systemd, docker, journald, a time daemon):
# with this machine's PATH each gives a value or is UNKNOWN with a reason naming the subsystem
# (any one of the words); nothing else is acceptable.
SUBSYSTEMS = {
    "systemd unit": ("systemd", "bus"),
    "failed units": ("systemd", "bus"),
    "clock offset": ("chrony", "timedatectl", "timesyncd"),
    "container": ("docker", "Docker"),
    "journal errors": ("journal",),
}
# Without the optional tools, these checks must be UNKNOWN, each reason naming every one of its
# words: the tools it tried and found missing. (The others still give a value: tcp_port falls
# back to bash's /dev/tcp, the rest need only coreutils, /proc and an absolute path.)
MISSING_ON_A_BARE_HOST = {
    "web process": ("pgrep", "procps"),
    "web health": ("curl", "wget"),
    "web latency": ("curl", "wget"),
    "certificate": ("openssl",),
    "error ratio": ("curl", "wget"),
    "systemd unit": ("systemctl", "systemd"),
    "failed units": ("systemctl", "systemd"),
    "clock offset": ("chronyc", "timedatectl"),
    "container": ("docker",),
    "journal errors": ("journal",),
}


class _Prometheus(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {"job": "api"}, "value": [time.time(), "0.25"]}],
            },
        }
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def services(tmp_path: Path) -> Iterator[dict[str, Any]]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "health").write_text("status: alive\n")
    web_port, tls_port = free_port(), free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(web_port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(site),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    tls = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-quiet",
            "-accept",
            f"127.0.0.1:{tls_port}",
            "-cert",
            str(cert),
            "-key",
            str(key),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prometheus = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    threading.Thread(target=prometheus.serve_forever, daemon=True).start()
    old = tmp_path / "backup.tar"
    old.write_bytes(b"x" * 4096)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    deadline = time.monotonic() + 10
    for port in (web_port, tls_port):
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"port {port} never opened"
                time.sleep(0.05)
    yield {
        "web": web_port,
        "tls": tls_port,
        "prometheus": prometheus.server_address[1],
        "marker": str(site),
        "backup": str(old),
        "dir": str(tmp_path),
    }
    prometheus.shutdown()
    for process in (web, tls):
        process.kill()
        process.wait()


# How full this machine's disk or swap is is not the kinds' business here: any percentage is OK.
_ANY_PERCENT = "warn: 101, crit: 102, clear: 100"


def every_kind(s: dict[str, Any]) -> str:
    """A play over all hosts with one check or more per kind, each against a service above.
    Services are addressed as 127.0.0.1, where they listen: what `localhost` names is up to a
    machine's /etc/hosts (a minimal container or chroot may have none)."""
    return f"""\
- name: every kind
  hosts: all
  checks:
    - {{name: disk, use: disk_usage, with: {{path: /}}, {_ANY_PERCENT}}}
    - {{name: inodes, use: inode_usage, with: {{path: /}}, {_ANY_PERCENT}}}
    - {{name: memory, use: memory_available, warn: 0.1, crit: 0.05, clear: 0.2}}
    - {{name: swap, use: swap_used, {_ANY_PERCENT}}}
    - {{name: load, use: load_per_core, warn: 50, crit: 100}}
    - {{name: cpu, use: cpu_usage, with: {{interval: 0.2}}, warn: 101, crit: 102, clear: 100}}
    - {{name: uptime, use: uptime, warn: 1, clear: 2}}
    - {{name: open files, use: open_files, {_ANY_PERCENT}}}
    - {{name: backup age, use: file_age, with: {{path: "{s["backup"]}"}}, warn: 10800, crit: 86400}}
    - {{name: backup size, use: path_size, with: {{path: "{s["backup"]}"}}, warn: 8192}}
    - {{name: backup exists, use: path_exists, with: {{path: "{s["backup"]}"}}}}
    - {{name: web process, use: process, with: {{match: "{s["marker"]}"}}}}
    - {{name: web port, use: tcp_port, with: {{host: 127.0.0.1, port: {s["web"]}}}}}
    - {{name: web health, use: http,
        with: {{url: "http://127.0.0.1:{s["web"]}/health", body_match: alive}}}}
    - {{name: web latency, use: http_latency, with: {{url: "http://127.0.0.1:{s["web"]}/health"}}}}
    - {{name: certificate, use: tls_days_left, with: {{host: 127.0.0.1, port: {s["tls"]}}}}}
    - {{name: error ratio, use: prometheus_query,
        with: {{query: "rate(errors[5m])", url: "http://127.0.0.1:{s["prometheus"]}"}},
        warn: 0.5, crit: 0.9}}
    - {{name: nagios load, use: command,
        with: {{command: "/usr/lib/nagios/plugins/check_load -w 99,99,99 -c 100,100,100",
               parse: nagios}}}}
    - {{name: json, use: command,
        with: {{command: "echo '{{\\"a\\": [1, 42]}}'", parse: json, json_path: "a[1]"}}}}
    - {{name: systemd unit, use: systemd_unit, with: {{unit: ssh.service}}}}
    - {{name: failed units, use: systemd_failed_units}}
    - {{name: clock offset, use: clock_offset}}
    - {{name: container, use: docker_container, with: {{name: web}}}}
    - {{name: journal errors, use: log_pattern, with: {{pattern: error, source: journal}}}}
"""


@pytest.fixture(params=["this machine's PATH", "a bare PATH"])
def bare(request: pytest.FixtureRequest) -> bool:
    """Whether the host (or the local runner) gets only the commands every Debian has."""
    return bool(request.param == "a bare PATH")


def run_every_kind(
    project: Path, services: dict[str, Any], env: dict[str, str], *args: str
) -> dict[str, Any]:
    """`jarvisctl run` of every kind on one host of project/inventory.yml: check -> result."""
    (project / "play.yml").write_text(every_kind(services))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jarvisctl",
            "run",
            "play.yml",
            "-i",
            "inventory.yml",
            "--json",
            *args,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.stdout, done.stderr
    (run,) = json.loads(done.stdout)["hosts"]
    assert run["outcome"] == "ok", run
    return {c["name"]: c for c in run["checks"]}


def assert_promises(found: dict[str, Any], bare: bool) -> None:
    """Each check gives its value, or says UNKNOWN and names what is missing."""
    assert len(found) == 24
    for name, check in found.items():
        if bare and name in MISSING_ON_A_BARE_HOST:
            assert check["status"] == "unknown" and check["value"] is None, (name, check)
            missing = [w for w in MISSING_ON_A_BARE_HOST[name] if w not in check["reason"]]
            assert not missing, (name, check["reason"])
        elif not bare and name in SUBSYSTEMS and check["status"] == "unknown":
            assert any(w in check["reason"] for w in SUBSYSTEMS[name]), (name, check["reason"])
        elif name in SUBSYSTEMS:  # the subsystem answered: its value, whatever the status
            assert check["value"] is not None, (name, check)
        else:
            assert check["status"] == "ok" and check["value"] is not None, (name, check)
    assert found["backup size"]["value"] == 4096
    assert 7000 < found["backup age"]["value"] < 8000
    assert found["backup exists"]["value"] == 1
    assert found["web port"]["value"] == 1
    assert found["json"]["value"] == 42
    assert found["nagios load"]["perfdata"], "the plugin's perfdata was not kept"
    if not bare:
        assert found["web process"]["value"] == 1
        assert found["web health"]["value"] == 200
        assert 29 <= found["certificate"]["value"] <= 30
        assert found["error ratio"]["value"] == 0.25


def test_every_kind_runs_on_a_real_host(
    tmp_path: Path, request: pytest.FixtureRequest, bare: bool, services: dict[str, Any]
) -> None:
    fleet: SshdFleet = request.getfixturevalue("bare_sshd_fleet" if bare else "sshd_fleet")
    fleet.reset()
    fleet.write_inventory(tmp_path / "inventory.yml")
    found = run_every_kind(tmp_path, services, dict(os.environ), "--limit", fleet.hosts[0].name)
    # with JARVIS_TEST_HIDE_TOOLS, even the usual fleet has the bare PATH
    assert_promises(found, bare or fleet.path is not None)


def test_every_kind_runs_on_the_local_machine(
    tmp_path: Path, request: pytest.FixtureRequest, bare: bool, services: dict[str, Any]
) -> None:
    (tmp_path / "inventory.yml").write_text(
        "all:\n  hosts:\n    here: {ansible_connection: local}\n"
    )
    env = dict(os.environ)
    if bare:
        env["PATH"] = request.getfixturevalue("bare_path_dir")
    found = run_every_kind(tmp_path, services, env)
    assert_promises(found, bare)
