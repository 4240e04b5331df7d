"""What the alert actions share (`alerts ack`, `silence add|expire`, `notify test`, and the
daemon's API doing the same): each is recorded as a run (app/backup_journal.py) whose journal
holds one typed record per thing done (core/alert_events.py); the text an operator gives (who,
why) is checked here, once for every front door, and is stored with the run's secrets redacted.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager

from jarvisctl.app.backup_journal import ActionLog, ActionRequest, backup_action
from jarvisctl.config.project import Project
from jarvisctl.core.errors import UsageError
from jarvisctl.core.secrets import Redactor, SecretValues

PLAY = "alerts"  # the session name of the action's run (it acts on no host)
ALLOWED_CONTROLS = frozenset("\n\t")


class FieldError(UsageError):
    """One field of a request cannot be used: `field` names it as the API spells it (a front
    door says it its own way: the CLI's option), `index` which item of a list."""

    def __init__(self, field: str, reason: str, index: int | None = None) -> None:
        where = field if index is None else f"{field}[{index}]"
        super().__init__(f"{where}: {reason}")
        self.field, self.reason, self.index = field, reason, index


@contextmanager
def alert_action(
    project: Project, arguments: tuple[str, ...], source: str, secrets: SecretValues
) -> Iterator[ActionLog]:
    """The block recorded as a run of no host; its log's store is the one to write to."""
    request = ActionRequest(arguments, (), play=PLAY, source=source)
    with backup_action(project, request, secrets) as log:
        yield log


def clean_text(value: str, field: str, limit: int, required: bool = False) -> str:
    """`value` without surrounding blanks; a FieldError if it is empty (when `required`), longer
    than `limit` characters, or holds a control character other than a newline or a tab."""
    text = value.strip()
    if required and not text:
        raise FieldError(field, "must not be empty")
    if len(text) > limit:
        raise FieldError(field, f"is {len(text)} characters long (at most {limit})")
    bad = next((ch for ch in text if _control(ch)), None)
    if bad is not None:
        raise FieldError(field, f"holds a control character (U+{ord(bad):04X})")
    return text


def _control(ch: str) -> bool:
    return (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0) and ch not in ALLOWED_CONTROLS


def stored_text(redact: Redactor, text: str) -> str:
    """What is kept of an operator's text: a secret quoted in it (a token pasted by mistake) is
    never written to the store, as it is never written to the journal."""
    return redact.text(text)


def current_user() -> str:
    """Who runs the command: the author of what it records, unless told otherwise."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
