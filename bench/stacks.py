"""Summaries of py-spy's collapsed stacks (`--format raw`): where jarvisctl's CPU goes."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

# A sample belongs to the first category any of its frames matches (the order is a priority:
# an import inside a worker thread is an import; a key exchange under jarvisctl's connection
# code is the key exchange).
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("imports (module loading)", ("_find_and_load", "_call_with_frames_removed")),
    ("key exchange (curve25519, host key)", ("kex_", "_parse_kex", "_compute_key", "x25519")),
    ("user authentication", ("auth_handler.py",)),
    ("cipher + MAC + packets", ("packet.py", "cipher", "hmac")),
    ("paramiko transport thread (other)", ("paramiko/transport.py",)),
    ("paramiko channel", ("paramiko/channel.py", "paramiko/buffered_pipe.py")),
    ("fabric connection set-up", ("fabric/", "invoke/")),
    ("jarvisctl connection", ("jarvisctl/connection/",)),
    ("jarvisctl executor", ("jarvisctl/engine/",)),
    ("pydantic validation", ("pydantic",)),
    ("jarvisctl plan (inventory, playbook, templating)", ("jarvisctl/plan", "jarvisctl/inv")),
    ("jarvisctl output", ("jarvisctl/render/",)),
    ("threads (start, join, wait)", ("threading.py", "concurrent/futures")),
)


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def category(frames: list[str]) -> str:
    for name, needles in CATEGORIES:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    return "other"


def _thread_name(frame: str) -> str:
    """'thread (1234): host_7' -> 'host_N': threads grouped by name, numbers folded."""
    name = frame.split(":", 1)[-1].strip()
    return re.sub(r"\d+", "N", name)


def summarize(path: Path, rate: int) -> dict[str, object]:
    """Seconds per category (a sample is 1/rate s of an active thread), top leaf functions.

    Samples whose stack has no Python frame (the interpreter starting or ending, C code with
    no frame) are counted as "(no Python frame)"."""
    stacks = parse(path)
    by_category: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for frames, count in stacks:
        if len(frames) <= 1:
            by_category["(no Python frame)"] += count
            threads[_thread_name(frames[0]) if frames else "?"] += count
            continue
        by_category[category(frames)] += count
        leaves[frames[-1]] += count
        threads[_thread_name(frames[0]) if frames else "?"] += count
    total = sum(by_category.values())

    def seconds(counter: Counter[str], top: int) -> list[tuple[str, float]]:
        return [(name, round(n / rate, 3)) for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "cpu_seconds_sampled": round(total / rate, 3),
        "by_category": seconds(by_category, len(CATEGORIES) + 1),
        "top_functions": seconds(leaves, 25),
        "by_thread": seconds(threads, 10),
    }


# Frames that start every thread, skipped to name what a thread runs.
_PLUMBING = ("threading.py", "concurrent/futures/")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*):(?P<line>\d+)\)$")
_SHORTEN = re.compile(r"^.*/(site-packages|python3\.\d+)/")


def _frame(text: str) -> tuple[str, str]:
    """(function, file shortened to the package or the standard library on)."""
    match = _FRAME.match(text)
    if match is None:
        return text, ""
    return match["function"], _SHORTEN.sub("", match["file"])


def hotspots(path: Path, rate: int, package: str = "jarvisctl", top: int = 30) -> dict[str, object]:
    """Where a process's sampled CPU goes, by its own code: seconds (a sample is 1/rate s of
    an active thread) charged to the deepest frame of `package` in each sample (that
    function and whatever outside the package it called: `file:function`), the seconds in
    which each of the package's stage folders was on the stack (inclusive), the leaf functions
    and files whatever their package, and, for samples with no frame of the package, the
    first frame of what the thread runs (paramiko's transport threads, the scheduler...)."""
    deepest: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    leaf_functions: Counter[str] = Counter()
    leaf_files: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    total = 0
    prefix = f"{package}/"
    for frames, count in parse(path):
        total += count
        parsed = [_frame(f) for f in frames[1:]]  # frames[0] is the thread
        if not parsed:
            outside["(no Python frame)"] += count
            continue
        function, file = parsed[-1]
        leaf_functions[f"{file}:{function}"] += count
        leaf_files[file] += count
        own = [(f, fn) for fn, f in parsed if f.startswith(prefix)]
        if not own:
            start = next((p for p in parsed if not p[1].startswith(_PLUMBING)), parsed[0])
            outside[f"{start[1]}:{start[0]}"] += count
            continue
        deepest[f"{own[-1][0]}:{own[-1][1]}"] += count
        for stage in {f.split("/")[1] if f.count("/") > 1 else f for f, _ in own}:
            stages[stage] += count

    def seconds(counter: Counter[str], limit: int) -> list[tuple[str, float]]:
        return [(name, round(n / rate, 3)) for name, n in counter.most_common(limit)]

    return {
        "samples": total,
        "cpu_seconds_sampled": round(total / rate, 3),
        "by_deepest_own_function": seconds(deepest, top),
        "by_stage_inclusive": seconds(stages, 40),
        "without_own_frames_by_thread_start": seconds(outside, 15),
        "top_leaf_functions": seconds(leaf_functions, top),
        "top_leaf_files": seconds(leaf_files, 20),
    }
