"""One command of an action (a remediation's, a step's) run on the host and recorded: its
Command event, with the tails of its output and the digests of the whole, as the journal
keeps every command that changes a host."""

from __future__ import annotations

from jarvisctl.connection.base import CommandResult, Connection
from jarvisctl.connection.capture import digest_of, output_record
from jarvisctl.connection.stdin import StdinSource
from jarvisctl.core.events import TAIL, Command
from jarvisctl.engine.session import Session


def run_recorded(
    session: Session,
    connection: Connection,
    command: str,
    *,
    timeout: float,
    purpose: str,
    label: str,
    sent: str | None = None,
    stdin: StdinSource | None = None,
) -> CommandResult:
    """Run `sent` (the line as the host gets it: `command` itself unless wrapped, such as in
    sudo) and record it as `command`, under `purpose` and `label` (the check or step it is
    for). Raises what connection.run raises (a lost connection)."""
    result = connection.run(sent or command, timeout=timeout, stdin=stdin)
    record(session, command, result, purpose=purpose, label=label)
    return result


def record(
    session: Session, command: str, result: CommandResult, *, purpose: str, label: str
) -> None:
    session.emit(
        Command(
            purpose=purpose,
            check=label,
            command=command,
            exit_code=result.exit_code,
            stdout_tail=result.stdout[-TAIL:],
            stderr_tail=result.stderr[-TAIL:],
            seconds=round(result.duration, 4),
            output=output_record(
                result.stdout_digest or digest_of(result.stdout),
                result.stderr_digest or digest_of(result.stderr),
            ),
            timed_out=result.timed_out,
        )
    )
