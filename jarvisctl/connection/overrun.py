"""Ending a check script whose running command overran its deadline, as the connection reads it.

The deadlines are the controller's: no `timeout` process runs beside each command on the host.
A connection that reads a WatchedSink's output asks this watch when to wake up next, and lets
it act then: TERM to the script at the running command's deadline (its shell's trap sweeps
what the command left), KILL to what is left of it KILL_AFTER seconds later (what coreutils
`timeout -k` did for each command), and after LOCAL_GRACE more, no more waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from jarvisctl.connection.base import KILL_AFTER, LOCAL_GRACE, OutputSink, WatchedSink


def watched(sink: OutputSink) -> WatchedSink | None:
    """The sink as one whose commands have deadlines (a check script's), or None."""
    return sink if isinstance(sink, WatchedSink) else None


class OverrunWatch:
    """The ending of one script, step by step; a no-op for a sink without deadlines."""

    _WATCHING, _TERMED, _KILLED, _GIVEN_UP = range(4)

    def __init__(
        self, sink: WatchedSink | None, term: Callable[[], None], kill: Callable[[str], None]
    ) -> None:
        self._sink = sink
        self._term, self._kill = term, kill
        self._step, self._at = self._WATCHING, 0.0

    @property
    def ending(self) -> bool:
        """Whether the script is being ended: its output is then waited for until it closes
        (or the watch gives up), not only until EXIT_GRACE after an exit status, which may be
        an outer shell's while the script's shell still waits for a command to end."""
        return self._step in (self._TERMED, self._KILLED)

    @property
    def given_up(self) -> bool:
        """Whether the script outlived its KILL by LOCAL_GRACE: nothing more will end it."""
        return self._step == self._GIVEN_UP

    def wake(self, now: float, longest: float) -> float:
        """Seconds from `now` to wait at most for output, so as to act in time."""
        due = self._due()
        return longest if due is None else max(0.0, min(longest, due - now))

    def act(self, now: float) -> None:
        """End the script, or escalate, if its time has come."""
        due = self._due()
        if due is None or now < due or self._sink is None:
            return
        self._step += 1
        if self._step == self._TERMED:
            self._sink.overran(killed=False)  # before anything more of its output is read
            self._term()
        elif self._step == self._KILLED:
            self._sink.overran(killed=True)
            self._kill(self._sink.marker)
        # the next step counts from when this one was done: on a busy host, ending a
        # script's session (a walk over /proc) can itself take a while
        self._at = time.monotonic()

    def _due(self) -> float | None:
        if self._sink is None or self._step == self._GIVEN_UP:
            return None
        if self._step == self._WATCHING:
            return self._sink.overrun_at()
        return self._at + (KILL_AFTER if self._step == self._TERMED else LOCAL_GRACE)
