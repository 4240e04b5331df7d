"""Open connections, kept and reused across the phases of a run (and, later, daemon cycles)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.base import Connection
from jarvisctl.connection.registry import make_connection

CLOSE_SECONDS = 10.0  # the longest closing may hold up the end of a run


class ConnectionPool:
    """One connection per host settings; a connection that failed to open is not kept."""

    def __init__(
        self, factory: Callable[[ConnectionSettings], Connection] = make_connection
    ) -> None:
        self._factory = factory
        self._connections: dict[ConnectionSettings, Connection] = {}
        self._lock = threading.Lock()

    def get(self, settings: ConnectionSettings) -> Connection:
        """An open connection to the host; raises UnreachableError and its kin."""
        with self._lock:
            connection = self._connections.get(settings)
            if connection is None:
                connection = self._factory(settings)
                self._connections[settings] = connection
        try:
            connection.open()  # a no-op when already open; reopens a dead one
        except BaseException:
            with self._lock:
                self._connections.pop(settings, None)
            raise
        return connection

    def warm(self, hosts: Iterable[ConnectionSettings]) -> None:
        """Start connecting to `hosts` now, without waiting (see `Connection.preconnect`)."""
        for settings in hosts:
            with self._lock:
                connection = self._connections.get(settings)
                if connection is None:
                    connection = self._connections[settings] = self._factory(settings)
            connection.preconnect()

    def close_all(self) -> None:
        """Close every connection; commands still running on them are ended on their hosts.

        An idle connection (`Connection.idle`: nothing to end) closes at once, here; the others
        all at once, each in a thread (ending a command can wait on its host). A thread for
        each idle one cost a 50-host run 67 ms of wall time at its end, and the CPU to start
        them; its close is a socket shut down."""
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        busy = []
        for connection in connections:
            if getattr(connection, "idle", False):  # a plugin's connection may not say
                connection.close()
            else:
                busy.append(connection)
        if len(busy) <= 1:
            for connection in busy:
                connection.close()
            return
        closers = [threading.Thread(target=c.close, daemon=True) for c in busy]
        for closer in closers:
            closer.start()
        # one deadline for them all: a join each of CLOSE_SECONDS would let N stuck closes hold
        # the end of the run N times as long
        deadline = time.monotonic() + CLOSE_SECONDS
        for closer in closers:
            closer.join(timeout=max(0.0, deadline - time.monotonic()))

    @property
    def open_count(self) -> int:
        with self._lock:
            return sum(1 for c in self._connections.values() if c.is_open)
