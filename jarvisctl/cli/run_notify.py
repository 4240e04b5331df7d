"""`jarvisctl run --notify`: the run's notifications pipeline, started before the run and
finished after it (app/notifications.py), and what it says on stderr."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from jarvisctl.config.project import Project
from jarvisctl.core.secrets import SecretValues

if TYPE_CHECKING:
    from jarvisctl.app.notifications import Notifications

WAITING_HINT = "the daemon, or the next `jarvisctl run --notify`, sends it"


def notifying(project: Project, flag: bool | None, check: bool) -> bool:
    """Whether this run notifies: --notify/--no-notify, else `notify: {on_run: ...}`."""
    if flag and project.notify is None:
        raise click.UsageError(
            "--notify: jarvisctl.yml has no notify: section (receivers and a route; see the "
            "README, 'Alerts and notifications')"
        )
    if flag and check:
        raise click.UsageError("--notify with --check: a check run changes nothing, nor tells")
    if flag is not None:
        return flag
    return project.notify is not None and project.notify.on_run and not check


def start_notifications(project: Project, secrets: SecretValues) -> Notifications:
    from jarvisctl.app.notifications import Notifications  # only a notifying run needs it

    notifications = Notifications(project, secrets, StderrLog())
    notifications.start()
    return notifications


def finish_notifications(notifications: Notifications) -> None:
    """Deliver for at most notify.delivery.run_wait, and say what was sent and what was left."""
    done = notifications.finish()
    if not (done.sent or done.failed or done.pending or done.held):
        return
    line = f"notifications: {done.sent} sent"
    if done.pending:
        line += f", {done.pending} waiting in the outbox ({WAITING_HINT})"
    if done.held:
        groups = "1 group's change" if done.held == 1 else f"{done.held} groups' changes"
        until = ""
        if done.held_until is not None:
            until = f" (the first at {datetime.fromtimestamp(done.held_until):%H:%M:%S})"
        line += f"; {groups} held by group_interval{until}: {WAITING_HINT}"
    click.echo(line, err=True)


class StderrLog:
    """A run says only what went wrong while it notified (the daemon logs everything)."""

    def info(self, event: str, **fields: Any) -> None:
        pass

    def warning(self, event: str, **fields: Any) -> None:
        self._say("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._say("error", event, fields)

    def _say(self, level: str, event: str, fields: dict[str, Any]) -> None:
        shown = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        print(f"{level}: {event.replace('_', ' ')}: {shown}", file=sys.stderr, flush=True)
