"""Byte streams for tests of streamed input: deterministic, made a chunk at a time, never whole."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

MIB = 1024 * 1024


def pseudo_random_chunks(size: int, seed: int = 17, chunk: int = MIB) -> Iterator[bytes]:
    """`size` bytes that do not compress, as chunks of `chunk` bytes (the last may be shorter);
    the same bytes for the same seed."""
    generator = random.Random(seed)
    left = size
    while left > 0:
        block = generator.randbytes(min(chunk, left))
        left -= len(block)
        yield block


def digest_of(chunks: Iterator[bytes]) -> str:
    """The sha256 of a stream, read chunk by chunk."""
    digest = hashlib.sha256()
    for block in chunks:
        digest.update(block)
    return digest.hexdigest()


class FailingSource:
    """Yields `good` bytes of a stream, then fails as a store read would."""

    def __init__(self, good: int) -> None:
        self.good = good

    def __iter__(self) -> Iterator[bytes]:
        yield from pseudo_random_chunks(self.good)
        raise OSError("the store could not be read (test)")
