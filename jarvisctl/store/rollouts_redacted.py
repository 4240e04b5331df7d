"""A RolloutStore that scrubs the run's secret values from the text it keeps (a host's reason,
a step's name, the rollout's reason) before writing it: `rollout status`, `rollout list` and the
daemon's API read the store in processes that never learned the secret, so nothing there could
redact it on the way out. A step's name is its command when it has no `name:`, and a failed
step's reason quotes its command: both may carry a secret from env(), secret_file() or
secret_vars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import Redactor
from jarvisctl.store.leases import Leases
from jarvisctl.store.rollouts import (
    HostState,
    Rollout,
    RolloutHost,
    RolloutState,
    RolloutStore,
    StepRecord,
    StepState,
)


@frozen
class RedactedRollouts:
    inner: RolloutStore
    redactor: Redactor

    @property
    def leases(self) -> Leases:
        return self.inner.leases

    def _text(self, text: str) -> str:
        return self.redactor.text(text) if text else text

    def create(self, rollout: Rollout, hosts: Sequence[RolloutHost]) -> None:
        clean = [replace(h, reason=self._text(h.reason)) for h in hosts]
        self.inner.create(replace(rollout, reason=self._text(rollout.reason)), clean)

    def get(self, rollout_id: str) -> Rollout:
        return self.inner.get(rollout_id)

    def recent(self, limit: int = 50) -> list[Rollout]:
        return self.inner.recent(limit)

    def active(self, play: str) -> Rollout | None:
        return self.inner.active(play)

    def update(
        self,
        rollout_id: str,
        *,
        state: RolloutState | None = None,
        batch: int | None = None,
        reason: str | None = None,
        run_id: str | None = None,
        at: float,
    ) -> Rollout:
        return self.inner.update(
            rollout_id,
            state=state,
            batch=batch,
            reason=None if reason is None else self._text(reason),
            run_id=run_id,
            at=at,
        )

    def hosts(self, rollout_id: str) -> list[RolloutHost]:
        return self.inner.hosts(rollout_id)

    def set_host(
        self,
        rollout_id: str,
        host: str,
        state: HostState,
        *,
        at: float,
        reason: str = "",
        phase: str = "",
        step: int | None = None,
        deferred_until: float | None = None,
        started: bool = False,
        failed: bool = False,
    ) -> RolloutHost:
        return self.inner.set_host(
            rollout_id,
            host,
            state,
            at=at,
            reason=self._text(reason),
            phase=phase,
            step=step,
            deferred_until=deferred_until,
            started=started,
            failed=failed,
        )

    def step_started(
        self, rollout_id: str, host: str, phase: str, index: int, name: str, at: float
    ) -> None:
        self.inner.step_started(rollout_id, host, phase, index, self._text(name), at)

    def step_finished(
        self,
        rollout_id: str,
        host: str,
        phase: str,
        index: int,
        state: StepState,
        outcome: str,
        at: float,
    ) -> None:
        self.inner.step_finished(rollout_id, host, phase, index, state, outcome, at)

    def steps(self, rollout_id: str, host: str | None = None) -> list[StepRecord]:
        return self.inner.steps(rollout_id, host)
