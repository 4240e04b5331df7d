"""`jarvisctl daemon`: run every scheduled play on time, serve /healthz, /metrics, /status and
the alert API (/alerts, /silences)."""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from jarvisctl.cli.common import EXIT_NOT_OK, EXIT_OK, PathArg, output_secrets, report_errors
from jarvisctl.config.models.project import parse_listen
from jarvisctl.daemon.logs import LEVELS, EventLog, Level, LogFormat, route_library_logs

if TYPE_CHECKING:
    from jarvisctl.daemon.service import Daemon


@click.command("daemon")
@click.option(
    "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
)
@click.option("--once", is_flag=True, help="Run every due job once, then exit (for cron).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event: key=value text, or JSON.",
)
@click.option(
    "--log-level",
    type=click.Choice(LEVELS),
    default="info",
    show_default=True,
    help="The least level logged (debug adds e.g. HTTP clients that left early).",
)
@report_errors
def daemon_command(
    config: Path | None, once: bool, log_format: LogFormat, log_level: Level
) -> None:
    """Run every play that has `schedule:` in the playbooks named by jarvisctl.yml, on time.

    SIGHUP reloads the YAML (a mistake keeps the running schedule); SIGTERM lets in-flight runs
    finish (daemon.stop_timeout), then stops them cleanly and exits 0."""
    # imported here: every other command starts faster without the scheduler and HTTP parts
    from jarvisctl.app.api_token import api_token
    from jarvisctl.daemon.api import AlertsApi
    from jarvisctl.daemon.http import HttpLimits, serve
    from jarvisctl.daemon.notify import Notifier, take_from_environment
    from jarvisctl.daemon.service import Daemon, start_project

    secrets = output_secrets()  # sys.stderr, the log's stream, is redacted with them
    log = EventLog(sys.stderr, log_format, log_level)
    route_library_logs(log)
    systemd = take_from_environment(os.environ)
    project, schedule = start_project(config, secrets)
    token = None if once else api_token(project, secrets)  # a mistake here stops the start
    notifier = Notifier.from_environment({} if once else systemd, os.getpid(), log)
    daemon = Daemon(project, log, secrets=secrets, notifier=notifier)
    restore = _handle_signals(daemon)
    try:
        if once:
            daemon.load(schedule)
            outcomes = daemon.run_due_once()
            daemon.runtime.pool.close_all()
            sys.exit(EXIT_OK if all(o == "ok" for o in outcomes) else EXIT_NOT_OK)
        settings = project.config.daemon
        http = settings.http
        limits = HttpLimits(http.timeout, http.workers, http.connections)
        api = AlertsApi(lambda: daemon.runtime.project, token, secrets, log)
        address = parse_listen(settings.listen)
        server, _ = serve(address, daemon.snapshot, log, secrets, limits, api)
        try:
            daemon.load(schedule)
            gc.freeze()  # what start-up made lives as long as the daemon: no collection walks it
            jobs = len(schedule.jobs)
            writes = "token" if token is not None else "refused (no daemon.http.token)"
            log.info(
                "daemon_started", pid=os.getpid(), jobs=jobs, listen=server.url, api_writes=writes
            )
            daemon.run_until_stopped(ready=f"{jobs} scheduled jobs; /healthz on {server.url}")
            clean = daemon.stop(settings.stop_timeout)
        finally:
            server.shutdown()
            server.server_close()
    finally:
        restore()
    if not clean:
        os._exit(EXIT_NOT_OK)  # a run ignored the cancellation: its thread cannot be joined
    sys.exit(EXIT_OK)


def _handle_signals(daemon: Daemon) -> Callable[[], None]:
    """SIGTERM/SIGINT: stop (a second one cancels in-flight runs at once); SIGHUP: reload."""

    def stop(signum: int, frame: FrameType | None) -> None:
        if daemon.stop_requested.is_set():
            daemon.runtime.cancel.set()
        daemon.stop_requested.set()

    def reload(signum: int, frame: FrameType | None) -> None:
        daemon.reload_requested.set()

    handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
    previous = {s: signal.signal(s, h) for s, h in handlers.items()}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
