"""A fleet of N real sshd hosts, from the end-to-end tests' `SshdFleet`, plus host-side CPU.

Each host's listening sshd forks one child per connection and reaps it when the connection
ends, so the change of the listener's utime+stime+cutime+cstime over a run, summed over the
hosts, is all the CPU the run cost on the hosts (see `check_host_cpu_accounting`).

`own_pid_namespace=True`: each host's sshd is pid 1 of a PID namespace with its own /proc
(bench/pidns.py), so a host sees only its own processes, as separate machines do; its
listener's pid on this side is found from the `unshare` that started it, never from its pid
file (which says 1). Orphans of its sessions are then reaped by the listener too, so their CPU
is counted and `wait_idle` waits for them.
"""

from __future__ import annotations

import random
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.pidns import NamespacedFleet, NamespacedHost  # noqa: E402
from bench.procfs import children_of, cpu_with_reaped_children  # noqa: E402
from tests.e2e.sshd import (  # noqa: E402
    SshdFleet,
    SshdHost,
    sshd_unavailable_reason,
    write_ed25519_key,
)

IDLE_TIMEOUT = 30.0
BURN_SECONDS = 1.0
# Hosts are started in waves, each wave waited for before the next starts: 200 sshds (each an
# `unshare`, a shell and an sshd) started at once on 2 shared cores take longer than the tests'
# 10 s to answer, and a wave that cannot start within its bound stops the benchmark.
WAVE = 25
WAVE_TIMEOUT = 30.0
# Descriptors the controller may hold per host (a socket, a pipe pair per channel, the tools'
# own files) and a margin for the rest of the process.
FDS_PER_HOST = 8
PER_BLOCK = 250  # hosts per 127.A.B.0/24
FDS_MARGIN = 256

__all__ = ["BenchFleet", "SshdHost", "sshd_unavailable_reason"]


class BenchFleet:
    """N sshd hosts on loopback, with the listeners' pids for host-side CPU accounting."""

    def __init__(self, directory: Path, count: int, *, own_pid_namespace: bool = False) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        maker = NamespacedFleet if own_pid_namespace else SshdFleet
        self.fleet: SshdFleet = maker(directory, 0)
        host_class = NamespacedHost if own_pid_namespace else SshdHost
        self.fleet.hosts = [
            host_class(f"host{n}", address, port, directory / f"host{n}", self.fleet)
            for n, (address, port) in enumerate(addresses(count), start=1)
        ]
        self.own_pid_namespace = own_pid_namespace
        self.directory = directory
        self.listeners: list[int] = []
        self.start_seconds = 0.0  # how long the last start took, every host answering

    @property
    def hosts(self) -> list[SshdHost]:
        return self.fleet.hosts

    @property
    def client_key(self) -> Path:
        return self.fleet.client_key

    @property
    def known_hosts(self) -> Path:
        return self.fleet.known_hosts

    def start(self) -> None:
        """Start every host, WAVE at a time, each wave bounded by WAVE_TIMEOUT (a host that
        does not answer with an SSH banner by then stops the benchmark with its logs)."""
        ensure_descriptors(len(self.hosts))
        fleet = self.fleet
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        fleet.client_public_key = write_ed25519_key(fleet.client_key, "jarvisctl-bench")
        fleet.authorized_keys.write_text(fleet.client_public_key + "\n")
        fleet.clean_bashrc.write_text("# plain .bashrc for jarvisctl's sshd bench hosts\n")
        started = time.monotonic()
        for first in range(0, len(self.hosts), WAVE):
            wave = self.hosts[first : first + WAVE]
            for host in wave:
                host.prepare()
                host.spawn()
            deadline = time.monotonic() + WAVE_TIMEOUT
            for host in wave:
                host.wait_ready(deadline)
        fleet.known_hosts.write_text("".join(f"{h.known_hosts_line}\n" for h in self.hosts))
        self.start_seconds = round(time.monotonic() - started, 2)
        self.listeners = [self._listener_pid(host) for host in self.hosts]

    def stop(self) -> None:
        """Stop every sshd (SshdHost.stop: by the pid in its pid file; NamespacedHost.stop: by
        its pid on this side, which ends its namespace)."""
        self.fleet.stop()

    def write_inventory(self, path: Path) -> Path:
        """The fleet's inventory (tests/e2e/sshd.py's), with a connect timeout that grows with
        the fleet: N hosts' handshakes at once share this machine's 2 cores with N sshds, so
        at 500 hosts a key exchange can take longer than the tests' 5 s (two of 500 hosts
        were unreachable so in a first cycle); Ansible's and pyinfra's default is 10 s."""
        self.fleet.write_inventory(path)
        timeout = connect_timeout(len(self.hosts))
        text = path.read_text().replace("connect_timeout: 5.0", f"connect_timeout: {timeout}")
        path.write_text(text)
        return path

    def force_command(self, command: Path) -> None:
        """Restart every host with its sessions running `command` (sshd's ForceCommand), which
        finds the client's command in $SSH_ORIGINAL_COMMAND."""
        for host in self.hosts:
            host.stop()
            host.config.write_text(host.config.read_text() + f"ForceCommand {command}\n")
            host.start()
        self.listeners = [self._listener_pid(host) for host in self.hosts]

    def host_cpu(self) -> float:
        """Seconds of CPU used by all hosts' sshd listeners and everything they reaped."""
        return sum(cpu_with_reaped_children(pid) for pid in self.listeners)

    def wait_idle(self, timeout: float = IDLE_TIMEOUT) -> None:
        """Wait until no listener has a connection child left (all reaped, all CPU counted)."""
        deadline = time.monotonic() + timeout
        listeners = set(self.listeners)
        while children_of(listeners):
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd connections still open after {timeout:g} s")
            time.sleep(0.05)

    def ssh_argv(self, host: SshdHost, *extra: str) -> list[str]:
        """OpenSSH client options for this fleet: its key only, strict host key checking."""
        return [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(self.client_key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-p",
            str(host.port),
            *extra,
            f"root@{host.address}",
        ]

    def check_host_cpu_accounting(self) -> dict[str, float]:
        """Burn a known amount of CPU in a session on the first host; the listener must see it."""
        host = self.hosts[0]
        burn = f"python3 -c 'import time\nwhile time.process_time() < {BURN_SECONDS}: pass'"
        self.wait_idle()
        before = self.host_cpu()
        subprocess.run([*self.ssh_argv(host), burn], check=True, timeout=60)
        self.wait_idle()
        seen = self.host_cpu() - before
        if not BURN_SECONDS <= seen <= BURN_SECONDS + 0.5:
            raise RuntimeError(
                f"host-side CPU accounting saw {seen:.2f} s for a {BURN_SECONDS:g} s burn"
            )
        return {"burned_seconds": BURN_SECONDS, "listener_delta_seconds": round(seen, 3)}

    @staticmethod
    def _listener_pid(host: SshdHost) -> int:
        if isinstance(host, NamespacedHost):
            return host.listener_pid  # the pid file says 1: its own namespace's number
        pid = int(host.pid_file.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        if comm != "sshd":
            raise RuntimeError(f"{host.name}: pid {pid} from {host.pid_file} is {comm!r}")
        return pid


def addresses(count: int, chooser: random.Random | None = None) -> list[tuple[str, int]]:
    """A loopback address and port for each of `count` hosts: 127.A.B.n with n 1-250, as many
    consecutive B as needed (the tests' fleet has one B, so at most 254 hosts), A and the first
    B random so that two fleets at once do not collide; port 22 for odd-numbered hosts where
    it is free, otherwise a free high port of that address."""
    chooser = chooser or random.Random()
    blocks = (count + PER_BLOCK - 1) // PER_BLOCK
    first = chooser.randint(0, 256 - max(blocks, 1))
    a = chooser.randint(100, 250)
    found = []
    for index in range(count):
        address = f"127.{a}.{first + index // PER_BLOCK}.{index % PER_BLOCK + 1}"
        found.append((address, _free_port(address, prefer_22=index % 2 == 0)))
    return found


def _free_port(address: str, *, prefer_22: bool) -> int:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if prefer_22:
            try:
                sock.bind((address, 22))
                return 22
            except OSError:
                pass
    with socket.socket() as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def connect_timeout(hosts: int) -> float:
    """Seconds a connection may take to open: 5 s up to 100 hosts, then 1 s per 20 hosts."""
    return float(max(5, hosts // 20))


def ensure_descriptors(hosts: int) -> int:
    """Raise this process's soft limit of open files (inherited by the tools it starts) to what
    `hosts` connections at once need, within the hard limit; refuse plainly if that is short."""
    need = hosts * FDS_PER_HOST + FDS_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise RuntimeError(
                f"{hosts} hosts need about {need} open files; the hard limit is {hard} "
                "(raise it with `ulimit -Hn` as root, or use fewer hosts)"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        soft = need
    return int(soft)
