"""`jarvisctl notify test RECEIVER`: a thin front door onto app/notify_probe.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from jarvisctl.cli.alerts import config_option
from jarvisctl.cli.common import EXIT_NOT_OK, EXIT_OK, output_secrets, report_errors


@click.group("notify")
def notify() -> None:
    """The receivers of jarvisctl.yml's `notify:`."""


@notify.command("test", short_help="Send a test notification through a receiver now.")
@click.argument("receiver")
@click.option("--json", "as_json", is_flag=True, help="Print what each part answered as JSON.")
@config_option
@report_errors
def test_command(receiver: str, as_json: bool, config: Path | None) -> None:
    """Send a test notification (alertname "jarvisctl notify test", severity warning) through
    every part of RECEIVER now, one after the other, bypassing the outbox, and say what each
    answered: delivered, or why not and whether a later attempt might work. Its secrets are
    never printed. Recorded as a run. Exit 1 when a part failed, 2 when RECEIVER names none."""
    from jarvisctl.app.notify_probe import send_test_notification
    from jarvisctl.config.project import load_project
    from jarvisctl.render.backups_text import escaped

    project = load_project(config)
    done = send_test_notification(project, receiver, output_secrets(), tuple(sys.argv[1:]))
    if as_json:
        parts = [
            {
                "integration": p.integration,
                "kind": p.kind,
                "delivered": p.delivered,
                "error": p.error or None,
                "retryable": p.retryable,
                "seconds": p.seconds,
            }
            for p in done.parts
        ]
        document = {"receiver": done.receiver, "ok": done.ok, "run_id": done.run_id}
        click.echo(json.dumps({**document, "parts": parts}, indent=2))
    else:
        for part in done.parts:
            if part.delivered:
                said = f"delivered in {part.seconds:.2f}s"
            else:
                lasting = "temporary" if part.retryable else "permanent"
                said = f"FAILED ({lasting}): {escaped(part.error)}"
            click.echo(f"{part.integration}: {said}")
    click.echo(f"recorded as run {done.run_id} (jarvisctl report {done.run_id})", err=True)
    sys.exit(EXIT_OK if done.ok else EXIT_NOT_OK)
