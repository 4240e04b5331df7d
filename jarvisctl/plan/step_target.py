"""What a step is resolved for: one host, and what its play declares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jarvisctl.core.frozen import frozen


@frozen
class StepTarget:
    """What a step is resolved for: one host, and what its play declares."""

    host: str
    variables: Mapping[str, Any]
    become: bool  # the host's own setting, for steps that do not say
    checks: frozenset[str]  # the play's check names (a wait step may name them)
    backups: frozenset[str]  # the play's backup names (a restore step may name them)
