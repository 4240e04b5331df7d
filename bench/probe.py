"""Run one tool and measure its whole process tree: `python probe.py RESULT OUT ERR -- ARGV...`.

The probe makes itself a child subreaper, so processes the tool leaves behind (ansible's
ControlPersist ssh masters detach from it) are reparented here rather than to init. Wall time
ends when the tool's own process exits; whatever it left behind is then ended with SIGTERM and
reaped, so that its CPU counts and it cannot serve the next run. CPU and peak memory come
from getrusage(RUSAGE_CHILDREN) after everything is reaped: user+sys summed over the whole
tree, ru_maxrss the largest single process of the tree.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
LEFTOVER_GRACE = 10.0


def _subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _leftovers() -> list[int]:
    me = str(os.getpid())
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                text = handle.read()
        except OSError:
            continue
        if text[text.rindex(")") + 2 :].split()[1] == me:
            found.append(int(name))
    return found


def _reap_leftovers() -> int:
    """End and reap what the tool left behind; return how many there were."""
    pids = _leftovers()
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + LEFTOVER_GRACE
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return len(pids)
        if pid == 0:
            if time.monotonic() > deadline:
                for left in _leftovers():
                    os.kill(left, signal.SIGKILL)
            time.sleep(0.01)


def main(argv: list[str]) -> int:
    result_path, out_path, err_path, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit("usage: probe.py RESULT OUT ERR -- ARGV...")
    _subreaper()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, _ = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    leftovers = _reap_leftovers()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "exit_code": process.returncode,
        "wall_seconds": wall,
        "cpu_user_seconds": usage.ru_utime,
        "cpu_system_seconds": usage.ru_stime,
        "max_rss_kib": usage.ru_maxrss,
        "leftover_processes": leftovers,
    }
    with open(result_path, "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
