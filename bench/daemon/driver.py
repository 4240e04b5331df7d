"""Drive `jarvisctl daemon` and `jarvisctl run` for the daemon benchmark, and read what they
cost from /proc (the daemon) or from wait4's rusage (a fresh run)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.commands import COMMANDS  # noqa: E402
from bench.fleet import BenchFleet  # noqa: E402
from bench.procfs import cpu_with_reaped_children  # noqa: E402
from tests.waiting import free_port, wait_for  # noqa: E402

SERVICE_CHECK = (
    "python3 -c 'import socket, sys; "
    'socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)\' {{ svc_port }}'
)
SERVICE_START = (
    "setsid python3 -m http.server {{ svc_port }} --bind 127.0.0.1 --directory {{ svc_dir }} "
    ">/dev/null 2>&1 </dev/null &"
)


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a live process, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


@dataclass
class Project:
    """A jarvisctl project for the fleet: one playbook, its inventory, the daemon's address."""

    root: Path
    fleet: BenchFleet
    port: int = 0

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "playbooks").mkdir(exist_ok=True)
        self.port = free_port()
        self.fleet.fleet.write_inventory(self.root / "inventory.yml")
        (self.root / "jarvisctl.yml").write_text(
            yaml.safe_dump(
                {
                    "playbooks": ["playbooks"],
                    "inventory": "inventory.yml",
                    "forks": len(self.fleet.hosts),
                    "daemon": {"listen": f"127.0.0.1:{self.port}", "stop_timeout": "30s"},
                }
            )
        )

    @property
    def playbook(self) -> Path:
        return self.root / "playbooks" / "bench.yml"

    def write_fleet_play(self, schedule: dict[str, Any] | str | None) -> None:
        """The 8 read-only commands of the main benchmark, on every host."""
        checks = [
            {"name": name, "use": "command", "with": {"command": command, "parse": "exit_code"}}
            for name, command in COMMANDS
        ]
        play: dict[str, Any] = {"name": "fleet", "hosts": "all", "checks": checks}
        if schedule is not None:
            play["schedule"] = schedule
        self.playbook.write_text(yaml.safe_dump([play], sort_keys=False))

    def write_service_play(self, host: str, port: int, folder: Path, every: str) -> None:
        """One host's web service, checked and restarted by a remediation."""
        check = {
            "name": "web up",
            "use": "command",
            "with": {"command": SERVICE_CHECK, "parse": "exit_code"},
            "crit": 1,
            "remediate": [
                {
                    "use": "run",
                    "with": {"commands": [SERVICE_START]},
                    "settle": "1s",
                    "max_attempts": 100,
                }
            ],
        }
        play = {
            "name": "service",
            "hosts": host,
            "vars": {"svc_port": port, "svc_dir": str(folder)},
            "schedule": {"every": every},
            "checks": [check],
        }
        self.playbook.write_text(yaml.safe_dump([play], sort_keys=False))

    def journals(self) -> list[list[dict[str, Any]]]:
        folder = self.root / ".jarvisctl" / "runs"
        files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
        return [
            [json.loads(line) for line in f.read_text().splitlines() if line.endswith("}")]
            for f in files
        ]

    def finished(self) -> list[list[dict[str, Any]]]:
        return [j for j in self.journals() if j and j[-1]["kind"] == "run_finished"]


class DaemonProcess:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.log = project.root / "daemon.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jarvisctl", "daemon", "--log-format", "json"],
                cwd=project.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        wait_for(self.healthy, 60, "the daemon's /healthz")

    @property
    def pid(self) -> int:
        return self.process.pid

    def healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.project.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def cpu(self) -> float:
        return cpu_with_reaped_children(self.pid)

    def rss(self) -> tuple[float, float]:
        return rss_mib(self.pid)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=90)
        if code != 0:
            raise RuntimeError(f"the daemon exited {code} on SIGTERM; see {self.log}")
        return code


@dataclass(frozen=True)
class FreshRun:
    cpu: float
    wall: float
    max_rss_mib: float


def fresh_run(project: Project) -> FreshRun:
    """`jarvisctl run` once, as cron or CI would: its whole process's CPU and peak RSS."""
    argv = [sys.executable, "-m", "jarvisctl", "run", str(project.playbook), "--json"]
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=project.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    out = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    hosts = json.loads(out)["hosts"]
    bad = [h["host"] for h in hosts if h["outcome"] != "ok"]
    if os.waitstatus_to_exitcode(status) != 0 or bad:
        raise RuntimeError(f"jarvisctl run failed (hosts not ok: {bad})")
    return FreshRun(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024)
