"""The remediation ledger aggregate: attempts per rung, and escalations, per (host, play,
check); budgets, cooldowns and the circuit breaker are read from it by the engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol

from jarvisctl.core.frozen import frozen


@frozen
class Ledger:
    """One check's remediation history on one host."""

    attempts: Mapping[str, tuple[float, ...]]  # rung -> attempt times, oldest first
    escalated_since: float | None = None
    escalated_reason: str = ""

    def attempts_since(self, rung: str, since: float) -> int:
        return sum(1 for t in self.attempts.get(rung, ()) if t > since)

    def last_attempt(self) -> float | None:
        times = [t for ts in self.attempts.values() for t in ts]
        return max(times) if times else None


class Escalation(NamedTuple):
    """A check whose remediation budget is spent, waiting for an operator."""

    host: str
    play: str
    check: str
    since: float
    reason: str


class RemediationLedger(Protocol):
    def read(self, host: str, play: str, check: str) -> Ledger: ...

    def record(
        self, host: str, play: str, check: str, rung: str, at: float, outcome: str
    ) -> None: ...

    def escalate(self, host: str, play: str, check: str, at: float, reason: str) -> None:
        """Escalate the check, unless it already is (the first escalation's time stays)."""
        ...

    def recovered(self, host: str, play: str, check: str, *, verified: bool) -> None:
        """The check is OK again: the escalation ends; a verified fix also resets the counters."""
        ...

    def reset(self, host: str, check: str | None = None) -> int:
        """An operator's reset: counters and escalations of a host (or one of its checks); the
        number of records removed."""
        ...

    def escalations(self, host: str | None = None) -> list[Escalation]: ...
