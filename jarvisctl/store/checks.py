"""The check states aggregate: each (host, play, check)'s status as hysteresis, `for:` and
flapping left it after the last cycle (the rules themselves are engine/statuses.py's)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from jarvisctl.core.frozen import frozen
from jarvisctl.core.results import Status


@frozen
class CheckState:
    """One (host, play, check)'s status after the last cycle, and what hysteresis, `for:` and
    flapping decide the next one from (engine/statuses.py)."""

    status: Status
    pending: Status | None = None  # a status seen for fewer than `for` cycles so far
    pending_count: int = 0
    history: tuple[Status, ...] = ()  # candidate statuses, oldest first
    flapping: bool = False
    value: float | None = None
    since: float = 0.0  # when `status` began (epoch seconds)
    updated: float = 0.0


CheckKey = tuple[str, str]  # (play, check)
Update = Callable[[dict[CheckKey, CheckState]], dict[CheckKey, CheckState]]


class CheckStates(Protocol):
    def update_host(
        self, host: str, keys: Sequence[CheckKey], update: Update
    ) -> dict[CheckKey, CheckState]:
        """Read the host's states for `keys`, let `update` compute the new ones and write them,
        atomically: two processes updating one host at once serialize, no update is lost."""
        ...

    def force(self, host: str, key: CheckKey, state: CheckState) -> None:
        """Set one check's state (after a verified remediation: the check is OK now)."""
        ...

    def read_host(self, host: str) -> dict[CheckKey, CheckState]: ...
