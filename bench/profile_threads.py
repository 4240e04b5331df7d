"""cProfile of every thread of `python -m jarvisctl ARGS...`, merged into one stats file:
`VENV/bin/python bench/profile_threads.py OUT.prof -- run bench.yml ...`.

`python -m cProfile` profiles the main thread only, and a run's hosts are worked in threads.
Here each thread gets a profiler of its own, started where `threading` starts every thread
(so paramiko's transport threads, which override `run`, are profiled too), timed by the
thread's own CPU clock (time.thread_time: a thread waiting for a host or a lock costs
nothing, as in the CPU figures, where the default wall clock would count the wait); the main
thread's
profiler runs jarvisctl as `python -m jarvisctl` would (runpy, its public entry point). A
thread still running when the program exits is left out. The exit code is jarvisctl's.
"""

from __future__ import annotations

import os
import sys

# This file's folder (bench/) is first on sys.path, and its profile.py would shadow the
# standard library's `profile`, which cProfile imports.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import cProfile
import pstats
import runpy
import threading
import time
from typing import Any

_done: list[cProfile.Profile] = []
_lock = threading.Lock()
_start_thread = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]


def _profiled_thread(self: threading.Thread) -> None:
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        _start_thread(self)
    finally:
        profiler.disable()
        with _lock:
            _done.append(profiler)


def main(argv: list[str]) -> int:
    out, separator, *args = argv
    if separator != "--":
        raise SystemExit("usage: profile_threads.py OUT.prof -- JARVISCTL-ARGS...")
    threading.Thread._bootstrap_inner = _profiled_thread  # type: ignore[attr-defined]
    sys.argv = ["jarvisctl", *args]
    main_profiler = cProfile.Profile(time.thread_time)
    code: Any = 0
    main_profiler.enable()
    try:
        runpy.run_module("jarvisctl", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code
    finally:
        main_profiler.disable()
    with _lock:
        profilers = [main_profiler, *_done]
    stats = pstats.Stats(profilers[0])
    for profiler in profilers[1:]:
        stats.add(profiler)
    stats.dump_stats(out)
    return code if isinstance(code, int) else (0 if code is None else 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
