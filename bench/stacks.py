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
