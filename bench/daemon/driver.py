"""Drive `jarvisctl daemon` and `jarvisctl run` for the daemon benchmark, and read what they
cost from /proc (the daemon) or from wait4's rusage (a fresh run).

Both run a `Jarvisctl`: the installed wheel's console script (as users run it), or the project's
.venv on this tree (`--ref venv`)."""

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

# Read-only commands for up to 20 checks a host: the main benchmark's 8, then 12 more of the
# same kind (files under /proc and /sys, coreutils), each exiting 0 on a healthy Linux host.
MORE_COMMANDS: tuple[tuple[str, str], ...] = (
    ("uptime_seconds", "cat /proc/uptime"),
    ("inodes", "df -P -i /"),
    ("tmp_writable", "test -w /tmp"),
    ("pid_max", "cat /proc/sys/kernel/pid_max"),
    ("vmstat", "head -5 /proc/vmstat"),
    ("open_files", "cat /proc/sys/fs/file-nr"),
    ("user", "id -u"),
    ("kernel", "uname -r"),
    ("passwd", "test -r /etc/passwd"),
    ("clock", "date +%s"),
    ("mounts", "wc -l /proc/mounts"),
    ("swaps", "cat /proc/swaps"),
)
ALL_COMMANDS = COMMANDS + MORE_COMMANDS


@dataclass(frozen=True)
class Jarvisctl:
    """How to start jarvisctl: the argv before its subcommand, and the environment."""

    prefix: tuple[str, ...]
    env: dict[str, str]
    version: str = ""


FRESH_TIMEOUT = 900.0
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
    forks: int = 0  # 0: one worker per host

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "playbooks").mkdir(exist_ok=True)
        self.port = free_port()
        self.fleet.write_inventory(self.root / "inventory.yml")
        (self.root / "jarvisctl.yml").write_text(
            yaml.safe_dump(
                {
                    "playbooks": ["playbooks"],
                    "inventory": "inventory.yml",
                    "forks": self.forks or len(self.fleet.hosts),
                    "daemon": {"listen": f"127.0.0.1:{self.port}", "stop_timeout": "30s"},
                }
            )
        )

    @property
    def playbook(self) -> Path:
        return self.root / "playbooks" / "bench.yml"

    def write_fleet_play(self, schedule: dict[str, Any] | str | None, count: int = 8) -> None:
        """`count` read-only commands (the main benchmark's 8 first) on every host."""
        if not 1 <= count <= len(ALL_COMMANDS):
            raise ValueError(f"checks per host: 1 to {len(ALL_COMMANDS)}, not {count}")
        checks = [
            {"name": name, "use": "command", "with": {"command": command, "parse": "exit_code"}}
            for name, command in ALL_COMMANDS[:count]
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

    def finished(self) -> list[dict[str, Any]]:
        """The `run_finished` record of each finished run, oldest first (only each journal's
        last line is read: a 500-host cycle's journal is megabytes)."""
        folder = self.root / ".jarvisctl" / "runs"
        files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
        found = []
        for path in files:
            record = _last_record(path)
            if record is not None and record.get("kind") == "run_finished":
                found.append(record)
        return found


def _last_record(path: Path) -> dict[str, Any] | None:
    """The journal's last complete line, parsed (None while it is being written)."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        chunk = 1 << 16
        while True:
            start = max(0, size - chunk)
            handle.seek(start)
            tail = handle.read(size - start)
            body = tail.rstrip(b"\n")
            cut = body.rfind(b"\n")
            if cut >= 0 or start == 0:
                break
            chunk *= 4
    line = body[cut + 1 :]
    if not tail.endswith(b"\n") or not line.endswith(b"}"):
        return None
    try:
        record: dict[str, Any] = json.loads(line)
    except ValueError:
        return None
    return record


class DaemonProcess:
    def __init__(self, project: Project, jarvisctl: Jarvisctl) -> None:
        self.project = project
        self.log = project.root / "daemon.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*jarvisctl.prefix, "daemon", "--log-format", "json"],
                cwd=project.root,
                env=jarvisctl.env,
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
        try:
            code = self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()  # our own child, by its pid
            self.process.wait()
            raise RuntimeError(
                f"the daemon did not stop in 90 s on SIGTERM; see {self.log}"
            ) from None
        if code != 0:
            raise RuntimeError(f"the daemon exited {code} on SIGTERM; see {self.log}")
        return code


@dataclass(frozen=True)
class FreshRun:
    cpu: float
    wall: float
    max_rss_mib: float


def fresh_run(project: Project, jarvisctl: Jarvisctl, timeout: float = FRESH_TIMEOUT) -> FreshRun:
    """`jarvisctl run` once, as cron or CI would: its whole process's CPU and peak RSS (a run
    that outlasts `timeout` is killed and the benchmark stops)."""
    argv = [*jarvisctl.prefix, "run", str(project.playbook), "--json"]
    out = project.root / "fresh.json"
    started = time.monotonic()
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            argv,
            cwd=project.root,
            env=jarvisctl.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > timeout:
            process.kill()
            process.wait()
            raise RuntimeError(f"jarvisctl run took more than {timeout:g} s: killed")
        time.sleep(0.02)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    try:
        hosts = json.loads(out.read_text())["hosts"]
    except (ValueError, KeyError):
        raise RuntimeError(f"jarvisctl run exited {process.returncode} without its JSON") from None
    bad = [h["host"] for h in hosts if h["outcome"] != "ok"]
    if process.returncode != 0 or bad or len(hosts) != len(project.fleet.hosts):
        raise RuntimeError(f"jarvisctl run failed (exit {process.returncode}, not ok: {bad[:10]})")
    return FreshRun(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024)
