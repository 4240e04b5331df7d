"""`jarvisctl run` as it goes: a line per host as it finishes and, on a terminal, one status line
under them (hosts done, running, left, and the slowest in flight), redrawn a few times a second
so that a run over hundreds of hosts never looks frozen.

The status line is drawn with a carriage return and spaces only (no cursor escapes), so a
terminal without colour (NO_COLOR) receives no escape code at all. It is never drawn on a pipe, a
file or a CI log: those get the per-host lines alone, as they always did.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import click

from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import HostRun
from jarvisctl.plan.model import Plan
from jarvisctl.render.run_text import progress_line

REDRAW_SECONDS = 0.25  # often enough that the seconds of the slowest host move visibly


def colour_wanted(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set to anything non-empty (no-color.org)."""
    return not os.environ.get("NO_COLOR") and stream.isatty()


@frozen
class Tally:
    """Where the run stands: sessions (a host in a play) done, in flight, and not started."""

    done: int
    running: int
    left: int
    slowest: tuple[str, float] | None  # the host in flight the longest, and its seconds

    def text(self) -> str:
        line = f"{self.done} done, {self.running} running, {self.left} left"
        if self.slowest is not None:
            host, seconds = self.slowest
            line += f"  slowest: {host} {seconds:.0f}s"
        return line


class LiveConsole:
    """The run's console: `finished` prints a host's line; with `live`, a thread redraws the
    status line below the printed lines until the console is closed. Thread-safe: hosts finish
    on their own threads."""

    def __init__(
        self,
        stream: TextIO,
        *,
        show: bool = True,
        live: bool = False,
        colour: bool = False,
        clock: Callable[[], float] = time.monotonic,
        width: Callable[[], int] = lambda: shutil.get_terminal_size().columns,
    ) -> None:
        self.stream, self.show, self.live, self.colour = stream, show, live, colour
        self._clock, self._width = clock, width
        self._lock = threading.RLock()
        self._total: int | None = None  # until the plan is made, there is nothing to show
        self._done = 0
        self._running: dict[tuple[str, str], float] = {}  # (host, play) -> when it started
        self._shown = 0  # characters of the status line now on the screen

    def planned(self, plan: Plan) -> None:
        self.expect(sum(len(p.hosts) for b in plan.playbooks for p in b.plays))

    def expect(self, sessions: int) -> None:
        """How many sessions (a host in a play) the run will have."""
        with self._lock:
            self._total = sessions
        self.redraw()

    def started(self, host: str, play: str) -> None:
        with self._lock:
            self._running[(host, play)] = self._clock()
        self.redraw()

    def finished(self, run: HostRun) -> None:
        with self._lock:
            # a host skipped (leased, interrupted) finishes without having started
            self._running.pop((run.host, run.play), None)
            self._done += 1
            if self.show:
                self._erase()
                self._write(progress_line(run, colour=self.colour) + "\n")
                self._draw()

    def message(self, text: str, stream: TextIO) -> None:
        """A line from outside the run (a signal's notice), printed above the status line."""
        with self._lock:
            self._erase()
            click.echo(text, file=stream)
            self._draw()

    def tally(self) -> Tally:
        with self._lock:
            now = self._clock()
            slowest = min(self._running.items(), key=lambda item: item[1], default=None)
            return Tally(
                done=self._done,
                running=len(self._running),
                left=max(0, (self._total or 0) - self._done - len(self._running)),
                slowest=None if slowest is None else (slowest[0][0], now - slowest[1]),
            )

    def redraw(self) -> None:
        with self._lock:
            self._draw()

    def close(self) -> None:
        """Take the status line off the screen (the recap follows)."""
        with self._lock:
            self._erase()
            self.live = False

    def _draw(self) -> None:
        if not self.live or self._total is None:
            return
        limit = max(0, self._width() - 1)  # a line that wrapped could not be redrawn in place
        text = self.tally().text()[:limit]
        self._write("\r" + text.ljust(self._shown))  # spaces cover a longer line drawn before
        self._shown = len(text)

    def _erase(self) -> None:
        if self.live and self._shown:
            self._write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()  # the status line has no newline: redaction holds text until one


@contextmanager
def redrawing(console: LiveConsole, seconds: float = REDRAW_SECONDS) -> Iterator[LiveConsole]:
    """The status line redrawn every `seconds` by a thread that ends with the block; the line
    is taken off the screen when the block ends."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            console.redraw()

    thread = threading.Thread(target=loop, name="console", daemon=True)
    if console.live:
        thread.start()
    try:
        yield console
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=seconds + 1)
        console.close()
