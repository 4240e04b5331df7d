"""The system clock the engine reads by default (core/clock.py), and the test clock's rules."""

from __future__ import annotations

import threading
import time

from jarvisctl.core.clock import SYSTEM_CLOCK
from tests.fakes import FakeClock


def test_the_system_clock_is_the_machines() -> None:
    before = time.time()
    assert before <= SYSTEM_CLOCK.now() <= time.time()
    first = SYSTEM_CLOCK.monotonic()
    assert SYSTEM_CLOCK.sleep(0.05) is False
    assert SYSTEM_CLOCK.monotonic() - first >= 0.05


def test_a_stop_ends_the_system_clocks_sleep_and_says_so() -> None:
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    started = time.monotonic()
    assert SYSTEM_CLOCK.sleep(60, cancel) is True
    assert time.monotonic() - started < 30  # woken by the stop, not by the minute (wide margin)
    assert SYSTEM_CLOCK.sleep(0.01, threading.Event()) is False


def test_the_fake_clock_moves_only_when_told_or_slept_on() -> None:
    clock = FakeClock(start=1000.0)
    assert (clock.now(), clock.monotonic()) == (1000.0, 1000.0)
    clock.advance(60)
    assert clock.sleep(30) is False
    assert (clock.now(), clock.slept) == (1090.0, [30])
    stopped = threading.Event()
    stopped.set()
    assert clock.sleep(5, stopped) is True
