"""Small helpers the tests and benchmarks share: a free loopback port, a bounded wait."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], seconds: float, what: str, poll: float = 0.1) -> Any:
    """The first truthy value of `condition()`, polled until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {seconds:g}s waiting for {what}")
