"""Durations as the commands sent to hosts spell them (coreutils `timeout`, `sleep`)."""

from __future__ import annotations


def format_seconds(seconds: float) -> str:
    """A duration as coreutils `timeout` reads it: '30', '1.5', '0.25' (never exponent notation)."""
    if seconds <= 0:
        raise ValueError(f"a command timeout must be positive, got {seconds!r}")
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text if text != "0" else "0.001"
