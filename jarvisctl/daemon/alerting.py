"""The daemon's notifications (issue 19): with `notify:` in jarvisctl.yml, every run the daemon
makes feeds the pipeline (app/notifications.py), whose threads derive, dispatch and deliver for
as long as the daemon lives. Its receivers are resolved at start (a variable not set is a
located error, and the daemon does not start) and again on SIGHUP (a mistake then keeps the
receivers it had). A daemon stopping delivers what is due for a few seconds more; the rest waits
in the outbox for its next start."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from jarvisctl.config.models.project import parse_listen
from jarvisctl.config.project import Project
from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.logs import EventLog

if TYPE_CHECKING:  # the pipeline is imported only when jarvisctl.yml has notify:
    from jarvisctl.app.notifications import Notifications


class Alerting:
    def __init__(self, project: Project, secrets: SecretValues, log: EventLog) -> None:
        self.secrets, self.log = secrets, log
        self.external_url = _external_url(project)
        self.notifications = self._made(project) if project.notify is not None else None
        self.running = False

    def _made(self, project: Project) -> Notifications:
        from jarvisctl.app.notifications import Notifications

        made = Notifications(project, self.secrets, self.log, external_url=self.external_url)
        self.log.info("notifications_ready", receivers=sorted(made.dispatcher.parts))
        return made

    def start(self) -> None:
        if self.notifications is not None and not self.running:
            self.notifications.start()
            self.running = True

    def reload(self, project: Project) -> None:
        """Use the reloaded project's `notify:`; raises (a ConfigError) keeping the old."""
        if project.notify is None:
            self.stop()
            self.notifications = None
            return
        if self.notifications is None:
            self.notifications = self._made(project)
            return
        self.notifications.configure(project)
        self.log.info(
            "notifications_reloaded", receivers=sorted(self.notifications.dispatcher.parts)
        )

    def stop(self) -> None:
        if self.notifications is not None and self.running:
            self.notifications.stop()
            self.running = False

    def finish(self) -> None:
        """`daemon --once`: what its runs found is told before it exits."""
        if self.notifications is not None:
            done = self.notifications.finish()
            until = done.held_until
            self.log.info(
                "notifications_finished",
                sent=done.sent,
                pending=done.pending,  # left in the outbox, for the next --once or the daemon
                held=done.held,  # groups whose change waits for their group_interval
                held_until=None if until is None else _iso(until),
            )
            self.running = False


def _external_url(project: Project) -> str:
    """Where a reader follows up: the daemon's address (the dashboard)."""
    host, port = parse_listen(project.config.daemon.listen)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")
