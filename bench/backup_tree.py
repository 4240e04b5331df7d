"""The backup benchmark's source tree: 1 GiB in many files of mixed sizes plus a few large ones,
generated once from a fixed seed and kept for later runs (a spec file says which one it is).

Half the bytes are random (media, model weights, already compressed data: nothing for a
compressor to win), half are slices of this machine's Python standard library sources (text
and code, which gzip and zstd shrink 3-4x), so that a compressor's speed and its gain both
show. Large files: 4 of 128 MiB (two of each kind). Small ones: sizes log-uniform between
512 bytes and 1 MiB, 20 top-level directories, each with nested subdirectories.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path

MIB = 1024 * 1024
SPEC_FILE = ".bench-tree.json"
CHUNK = 4 * MIB


@dataclass(frozen=True)
class TreeSpec:
    seed: int = 17
    total_bytes: int = 1024 * MIB
    large_files: int = 4
    large_bytes: int = 128 * MIB
    small_min: int = 512
    small_max: int = 1 * MIB
    top_dirs: int = 20
    version: int = 1


@dataclass(frozen=True)
class TreeInfo:
    root: Path
    files: int
    directories: int
    bytes: int
    generated: bool  # False: an existing tree of the same spec was reused


def text_corpus(limit: int = 16 * MIB) -> bytes:
    """Python's standard library sources, concatenated (sorted: the same bytes every time)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[bytes] = []
    size = 0
    for path in sorted(stdlib.glob("*.py")):
        data = path.read_bytes()
        parts.append(data)
        size += len(data)
        if size >= limit:
            break
    return b"".join(parts)


def ensure_tree(root: Path, spec: TreeSpec = TreeSpec()) -> TreeInfo:
    """The tree at `root`, generated unless a complete one of the same spec is there."""
    marker = root / SPEC_FILE
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("spec") == asdict(spec):
            return TreeInfo(
                root, recorded["files"], recorded["directories"], recorded["bytes"], False
            )
    if root.exists():
        shutil.rmtree(root)
    info = _generate(root, spec)
    # written last: a tree whose generation was interrupted has no marker and is made again
    marker.write_text(
        json.dumps(
            {
                "spec": asdict(spec),
                "files": info.files,
                "directories": info.directories,
                "bytes": info.bytes,
            }
        )
    )
    return info


def _generate(root: Path, spec: TreeSpec) -> TreeInfo:
    rng = random.Random(spec.seed)
    corpus = text_corpus()
    files = written = 0
    large = root / "large"
    large.mkdir(parents=True)
    for index in range(spec.large_files):
        kind = "random" if index % 2 == 0 else "text"
        _write(large / f"{kind}-{index}.bin", spec.large_bytes, kind, rng, corpus)
        files += 1
        written += spec.large_bytes
    low, high = math.log(spec.small_min), math.log(spec.small_max)
    while written < spec.total_bytes:
        size = min(int(math.exp(rng.uniform(low, high))), spec.total_bytes - written)
        top = root / f"dir{rng.randrange(spec.top_dirs):02d}"
        parent = top / f"sub{rng.randrange(8)}" / f"leaf{rng.randrange(4)}"
        parent.mkdir(parents=True, exist_ok=True)
        kind = "random" if rng.random() < 0.5 else "text"
        _write(
            parent / f"file{files:05d}.{'bin' if kind == 'random' else 'txt'}",
            size,
            kind,
            rng,
            corpus,
        )
        files += 1
        written += size
    directories = sum(1 for path in root.rglob("*") if path.is_dir())
    return TreeInfo(root, files, directories, written, True)


def _write(path: Path, size: int, kind: str, rng: random.Random, corpus: bytes) -> None:
    with path.open("wb") as handle:
        left = size
        while left > 0:
            step = min(left, CHUNK)
            if kind == "random":
                handle.write(rng.randbytes(step))
            else:
                start = rng.randrange(max(1, len(corpus) - step))
                piece = corpus[start : start + step]
                handle.write((piece * (step // max(1, len(piece)) + 1))[:step])
            left -= step


if __name__ == "__main__":
    made = ensure_tree(Path(sys.argv[1]))
    print(made)
