"""systemd's service notifications (sd_notify(3)), without libsystemd: each message is one
datagram of `KEY=VALUE` lines on the AF_UNIX socket named by $NOTIFY_SOCKET (a name starting
with '@' is in the abstract namespace). With no $NOTIFY_SOCKET (not started by systemd with
Type=notify) nothing is sent.

$WATCHDOG_USEC (with $WATCHDOG_PID, when set, naming this process) asks for WATCHDOG=1 at least
that often; the daemon pings at half of it, and only while its scheduler's loop is healthy.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, MutableMapping

from jarvisctl.core.frozen import frozen
from jarvisctl.daemon.logs import EventLog

_ENVIRONMENT = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


@frozen
class Notifier:
    address: str | bytes | None = None  # None: not under systemd's Type=notify
    watchdog_interval: float | None = None  # seconds between WATCHDOG=1, None: no watchdog
    log: EventLog | None = None

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], pid: int, log: EventLog | None = None
    ) -> Notifier:
        path = environ.get("NOTIFY_SOCKET", "")
        address: str | bytes | None = None
        if path.startswith("@"):
            address = b"\0" + path[1:].encode()
        elif path.startswith("/"):
            address = path
        return cls(address, _watchdog_interval(environ, pid), log)

    def send(self, *fields: str) -> bool:
        """One notification; False (and a warning) when it could not be sent. Never raises: a
        service manager that went away must not take the daemon with it."""
        if self.address is None:
            return False
        message = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
        except OSError as exc:
            if self.log is not None:
                self.log.warning("notify_failed", fields=list(fields), error=str(exc))
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def stopping(self, status: str) -> bool:
        return self.send("STOPPING=1", f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")


def _watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    usec, owner = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None  # the watchdog is another process's (one that started us, say)
    return int(usec) / 1e6 / 2


def take_from_environment(environ: MutableMapping[str, str]) -> dict[str, str]:
    """The notification variables, removed from the environment: the commands local checks
    run must not inherit them (they would speak for the daemon)."""
    return {name: environ.pop(name) for name in _ENVIRONMENT if name in environ}
