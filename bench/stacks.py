"""Summaries of py-spy's collapsed stacks (`--format raw`): where jarvisctl's CPU goes."""

from __future__ import annotations

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
    ("jarvisctl executor", ("jarvisctl/executor/",)),
    ("pydantic validation", ("pydantic",)),
    ("jarvisctl plan (inventory, playbook, templating)", ("jarvisctl/plan", "jarvisctl/inv")),
    ("jarvisctl output", ("jarvisctl/output/",)),
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


def summarize(path: Path, rate: int) -> dict[str, object]:
    """Seconds per category (each sample is 1/rate s of GIL-holding CPU), top leaf functions."""
    stacks = parse(path)
    by_category: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for frames, count in stacks:
        by_category[category(frames)] += count
        leaves[frames[-1]] += count
        threads[frames[0].split(" ")[0] if frames else "?"] += count
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
