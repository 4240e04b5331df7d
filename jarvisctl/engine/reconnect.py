"""Reaching a host again after it went away on purpose (a reboot rung, a reboot step): the old
connection is closed, and the pool is asked for a new one until the host answers, or the time
runs out, or the run is stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.base import Connection
from jarvisctl.core.clock import Clock
from jarvisctl.core.errors import UnreachableError
from jarvisctl.engine.pool import ConnectionPool

RECONNECT_POLL = 2.0  # seconds between two attempts to reach the host


def reconnect(
    pool: ConnectionPool,
    settings: ConnectionSettings,
    old: Connection,
    *,
    clock: Clock,
    cancel: threading.Event,
    seconds: float,
    back: Callable[[Connection], bool] = lambda _: True,
    fatal: tuple[type[UnreachableError], ...] = (),
) -> Connection | None:
    """A connection to the host once it is back (`back(connection)` says whether it is: a
    reboot step compares its boot id), or None when it was not within `seconds` (or the run
    was stopped). A connection that `back` refuses is closed, and tried again later. An error
    of a `fatal` type is raised at once (a host key that changed is no host still booting)."""
    old.close()
    deadline = clock.monotonic() + seconds
    while clock.monotonic() < deadline and not cancel.is_set():
        try:
            connection = pool.get(settings)
            if back(connection):
                return connection
            connection.close()
        except UnreachableError as exc:  # not back yet, or gone again while `back` looked
            if isinstance(exc, fatal):
                raise
        clock.sleep(RECONNECT_POLL, cancel)
    return None
