"""The clock the engine's rules read: budget windows, cooldowns, settle waits, the times that
check states and the remediation ledger record.

Rules read time through a Clock passed with the run, never from `time` directly, so that a test
can drive hours of budgets and cooldowns in milliseconds (tests/fakes.py: FakeClock). The
watchdogs of real I/O (a command's deadline, a script's delimiters) keep the real clock: they
measure what the host does, not what a rule decides.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall time in epoch seconds: what is stored and compared across runs."""
        ...

    def monotonic(self) -> float:
        """Seconds for durations and deadlines within this process."""
        ...

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Wait `seconds`, or less if `cancel` is set meanwhile; True if it was."""
        ...


class SystemClock:
    """The machine's clock; stateless, so one instance serves every run."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        if cancel is not None:
            return cancel.wait(seconds)
        time.sleep(seconds)
        return False


SYSTEM_CLOCK: Clock = SystemClock()
