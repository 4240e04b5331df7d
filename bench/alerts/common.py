"""What both alert benchmarks share: a webhook receiver that records when each post arrived, a
project for a fleet (inventory with per-host variables, jarvisctl.yml with `notify:`), the
daemon process, and its audit journal read back.

jarvisctl is used only through its command and documented outputs (bench/README.md, "What
bench may use of jarvisctl"): the daemon's JSON log, the audit journal (.jarvisctl/runs), the
webhook JSON it posts."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.fleet import BenchFleet  # noqa: E402
from tests.waiting import free_port, wait_for  # noqa: E402

HOOK = "/hook"


# --- the receiver -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    at: float  # this machine's clock when the whole body had been read
    path: str
    body: dict[str, Any]


@dataclass
class Receiver:
    url: str = ""
    posts: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.posts)

    def alerts(self) -> list[tuple[Received, dict[str, Any]]]:
        """Every alert of every post, with the post it came in."""
        return [(post, alert) for post in self.received() for alert in post.body["alerts"]]


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """An HTTP server on loopback that answers 200 to every POST and keeps its JSON body and
    the time it arrived."""
    receiver = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            at = time.time()
            with receiver.lock:
                receiver.posts.append(Received(at, self.path, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def iso_time(text: str) -> float:
    """Epoch seconds of the webhook's `startsAt`/`endsAt` (`2026-12-04T10:00:00.123Z`)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- the project and the daemon -------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """The operator's route for the benchmark's one webhook receiver."""

    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str

    @property
    def interval_seconds(self) -> float:
        return duration(self.group_interval)

    def as_dict(self) -> dict[str, Any]:
        return {
            "receiver": "hook",
            "group_by": list(self.group_by),
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": self.repeat_interval,
        }


def duration(text: str) -> float:
    """`500ms`, `5s`, `2m`, `1h` in seconds (the forms the benchmark writes)."""
    for unit, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * factor
    raise ValueError(f"not a duration the benchmark writes: {text!r}")


def write_project(
    root: Path,
    fleet: BenchFleet,
    host_vars: dict[str, dict[str, Any]],
    plays: list[dict[str, Any]],
    receiver: Receiver,
    route: Route,
) -> int:
    """jarvisctl.yml (the daemon on a free port, `notify:` with the webhook and the route),
    the fleet's inventory with `host_vars` added, and the plays; the daemon's port."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "playbooks").mkdir(exist_ok=True)
    inventory = fleet.fleet.write_inventory(root / "inventory.yml")
    document = yaml.safe_load(inventory.read_text())
    for name, variables in document["all"]["children"]["sshd"]["hosts"].items():
        variables.update(host_vars.get(name, {}))
    inventory.write_text(yaml.safe_dump(document))
    port = free_port()
    config = {
        "playbooks": ["playbooks"],
        "inventory": "inventory.yml",
        "forks": len(fleet.hosts),
        "lease_ttl": "30s",
        "daemon": {"listen": f"127.0.0.1:{port}", "stop_timeout": "30s"},
        "notify": {
            "receivers": {"hook": {"webhook": {"url": receiver.url + HOOK}}},
            "route": route.as_dict(),
            "delivery": {"retry_after": "1s", "retry_max": "2s"},
        },
    }
    (root / "jarvisctl.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "playbooks" / "bench.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    return port


class Daemon:
    """`python -m jarvisctl daemon --log-format json` on the project, this tree's jarvisctl."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.log = root / "daemon.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"],
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:
            wait_for(self.healthy, 60, "the daemon's /healthz")
        except BaseException:
            self.kill()
            raise

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the daemon exited {self.process.returncode}: see {self.log}")
        try:
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def stop(self) -> int:
        """SIGTERM (it delivers what is due for a few seconds more) and its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=90)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_events(self, name: str) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        records = [json.loads(line) for line in lines if line.startswith("{")]
        return [r for r in records if r.get("event") == name]


def journals(root: Path) -> list[list[dict[str, Any]]]:
    """Every run's audit journal (one record per line), oldest first."""
    folder = root / ".jarvisctl" / "runs"
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return [
        [json.loads(line) for line in f.read_text().splitlines() if line.endswith("}")]
        for f in files
    ]


def check_records(root: Path) -> list[dict[str, Any]]:
    """The journal's `check` records of every run, by time."""
    found = [r for journal in journals(root) for r in journal if r["kind"] == "check"]
    return sorted(found, key=lambda r: float(r["at"]))


def finished_runs(root: Path) -> int:
    return sum(1 for j in journals(root) if j and j[-1]["kind"] == "run_finished")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of non-empty values."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "median": round(percentile(values, 0.5), 3),
        "p95": round(percentile(values, 0.95), 3),
        "max": round(max(values), 3),
        "min": round(min(values), 3),
    }


def machine() -> dict[str, Any]:
    """The load and the code measured, for the results file."""
    import jarvisctl

    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "cpus": os.cpu_count(),
        "jarvisctl": jarvisctl.__version__,
        "jarvisctl_file": jarvisctl.__file__,
        "commit": commit,
    }
