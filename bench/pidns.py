"""sshd test hosts that each have a PID namespace and a /proc of their own, as separate machines
have their own kernels: a process on one host sees only that host's processes.

The end-to-end tests' hosts (tests/e2e/sshd.py) share this machine's PID namespace and /proc,
so whatever walks /proc on one host (jarvisctl's check script ends with a sweep that does,
`_jk`) sees every other host's processes too. Here each host's sshd is started by
`unshare --pid --fork --mount-proc` and is the init (pid 1) of its namespace: orphans of its
sessions are reparented to it and reaped by it, and when it ends the kernel kills whatever is
left in the namespace. The hosts still share this machine's cores, network stack, disk and
file system.

Inside the namespace sshd's pid file says 1. That number is never signalled (pid 1 on this side
is the machine's init): the listener's pid on this side is the `unshare` process's one child,
checked to be an sshd whose innermost pid is the one in the pid file.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from bench.procfs import children_of, parent_of
from tests.e2e.sshd import SSHD, STOP_TIMEOUT, SshdFleet, SshdHost

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--propagation", "private"]
PROBE_TIMEOUT = 10.0
RESOLVE_TIMEOUT = 5.0
# The plain .bashrc bind-mounted over root's (as tests/e2e/sshd.py does, for the same reason:
# root's runs pyenv's set-up for every command sent over ssh), then sshd in the foreground.
_SPAWN_SCRIPT = (
    'if [ -e "$2" ]; then mount --bind "$1" "$2" || exit 97; fi; exec "$3" -D -f "$4" -E "$5"'
)
_PROBE_SCRIPT = 'echo "$$"; for d in /proc/[0-9]*; do echo "${d#/proc/}"; done'


def pid_namespace_unavailable_reason() -> str | None:
    """Why hosts cannot get a PID namespace and /proc of their own here, or None when they can
    (checked for real: a shell in a new namespace must be pid 1 and see only its own processes
    in /proc)."""
    argv = [*UNSHARE, "--", "/bin/sh", "-c", _PROBE_SCRIPT]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except FileNotFoundError:
        return "`unshare` (util-linux) is missing"
    except subprocess.TimeoutExpired:
        return f"`{' '.join(UNSHARE)}` did not finish in {PROBE_TIMEOUT:g} s"
    if done.returncode != 0:
        return f"`{' '.join(UNSHARE)}` failed (exit {done.returncode}): {done.stderr.strip()}"
    shell, *seen = done.stdout.split()
    if shell != "1" or len(seen) > 3:  # the shell, and the shell's subshells at most
        return (
            f"a shell started by `{' '.join(UNSHARE)}` is pid {shell} and sees {len(seen)} "
            "processes in /proc (expected pid 1 and only its own)"
        )
    return None


class NamespacedHost(SshdHost):
    """An sshd test host whose sshd is pid 1 of a PID namespace with its own /proc."""

    def __init__(self, name: str, address: str, port: int, directory: Path, fleet: SshdFleet):
        super().__init__(name, address, port, directory, fleet)
        self._listener: int | None = None

    @property
    def listener_pid(self) -> int:
        """The listening sshd's pid on this side (never the pid file's, which says 1)."""
        if self._listener is None:
            raise RuntimeError(f"{self.name}: sshd is not running")
        return self._listener

    def spawn(self) -> None:
        if self.is_running:
            return
        self.pid_file.unlink(missing_ok=True)
        self._listener = None
        argv = [*UNSHARE, "--", "/bin/sh", "-c", _SPAWN_SCRIPT, "sshd-host"]
        argv += [
            str(self.fleet.clean_bashrc),
            _root_bashrc(),
            SSHD,
            str(self.config),
            str(self.log),
        ]
        if threading.current_thread() is threading.main_thread() and shutil.which("setpriv"):
            # If the benchmark dies without stopping its hosts, `unshare` dies with it (KILL:
            # `unshare --fork` blocks TERM until its child ends) and its --kill-child KILLs the
            # namespace's init, which ends the whole namespace.
            argv = ["setpriv", "--pdeathsig", "KILL", "--", *argv]
        with (self.directory / "spawn.log").open("ab") as spawn_log:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=spawn_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, deadline: float) -> None:
        super().wait_ready(deadline)
        self._listener = self._resolve_listener(time.monotonic() + RESOLVE_TIMEOUT)

    def stop(self) -> None:
        """TERM the listener by its pid on this side (its sessions end with it: the kernel
        kills a namespace's processes when its init ends); KILL `unshare` if that fails (its
        --kill-child then KILLs the namespace's init)."""
        process, self._process = self._process, None
        listener, self._listener = self._listener, None
        if process is None:
            return
        if process.poll() is None:
            if listener is not None and self._is_listener(listener, process.pid):
                os.kill(listener, signal.SIGTERM)
            else:
                process.kill()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()  # still our unreaped child: its pid cannot have been reused
                process.wait()
        self.pid_file.unlink(missing_ok=True)

    def _resolve_listener(self, deadline: float) -> int:
        """The one child of `unshare` once it is the sshd that wrote the pid file."""
        assert self._process is not None
        unshare = self._process.pid
        while True:
            found = sorted(children_of({unshare}))
            if len(found) == 1 and self._is_listener(found[0], unshare):
                return found[0]
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(
                    f"{self.name}: no sshd listener under unshare (pid {unshare}); its children "
                    f"{found}, pid file {self._pid_file_text()!r}:\n{self._logs()}"
                )
            time.sleep(0.01)

    def _is_listener(self, pid: int, unshare: int) -> bool:
        """Whether `pid` is still the child of `unshare`, an sshd, and in its own namespace the
        pid its pid file names."""
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        inner = next(
            (line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:")), ""
        )
        return parent_of(pid) == unshare and comm == "sshd" and inner == self._pid_file_text()

    def _pid_file_text(self) -> str:
        try:
            return self.pid_file.read_text().strip()
        except OSError:
            return ""


class NamespacedFleet(SshdFleet):
    """SshdFleet's hosts (same addresses, ports, keys and config), each a NamespacedHost."""

    def __init__(self, directory: Path, count: int, path: str | None = None) -> None:
        super().__init__(directory, count, path)
        self.hosts = [
            NamespacedHost(h.name, h.address, h.port, h.directory, self) for h in self.hosts
        ]


def _root_bashrc() -> str:
    return os.path.join(pwd.getpwuid(0).pw_dir, ".bashrc")
