"""The freshness of a backup: seconds since its newest snapshot that did not fail verification.

Measured on the controller from the snapshot index, not on the host (`controller_side`): the
engine evaluates it; a play's `max_age` derives one per backup, and a check can name it.
"""

from __future__ import annotations

from pydantic import field_validator

from jarvisctl.config.models.values import valid_backup_name
from jarvisctl.kinds.base import CheckKind, CommandOutput, KindParams, ParseError


class BackupAgeParams(KindParams):
    backup: str  # a backup's name, declared in a play's `backups:` for the same host

    _name_ok = field_validator("backup")(valid_backup_name)


class BackupAge(CheckKind[BackupAgeParams]):
    name = "backup_age"
    description = (
        "Seconds since the newest snapshot of a backup on this host that did not fail its "
        "verification, read from the snapshot index on the controller; no snapshot, or a newest "
        "one that failed verification, is CRITICAL."
    )
    params_model = BackupAgeParams
    unit = "s"
    direction = "above"
    controller_side = True

    def command(self, params: BackupAgeParams) -> str:
        return ""  # nothing runs on the host

    def parse(self, output: CommandOutput, params: BackupAgeParams) -> float:
        raise ParseError("backup_age is measured on the controller, from the snapshot index")
