"""Host leases: a run's claim on each host it acts on, so that the daemon, a manual run and CI
never act on the same host at once.

A lease is a record in the store with an expiry; the holder renews it while its run lasts and
deletes it at the end. A lease whose holder crashed is taken over once it has expired, or at once
when it was held by a process of this controller that no longer exists. A claim reads and writes
atomically (the store's `claim`), so two runs racing for a host cannot both win.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import field
from typing import Protocol

from jarvisctl.core.errors import StoreError
from jarvisctl.core.events import Event, EventSink, HostSkipped, LeaseTakeover
from jarvisctl.core.frozen import frozen
from jarvisctl.core.processes import pid_alive

# A lease taken over is a lease_takeover event; a refused host is skipped by the runner, which
# records a host_skipped event (jarvisctl.core.events) for each of its plays


@frozen
class Holder:
    """Who claims: one run (owner = its run id) of one process on one controller."""

    owner: str
    source: str = "cli"
    pid: int = field(default_factory=os.getpid)
    controller: str = field(default_factory=socket.gethostname)


@frozen
class Lease:
    """One lease: the host it is on (a rollout's id, for the rollouts' leases), who holds it, since
    when and until when (epoch seconds)."""

    host: str
    holder: Holder
    acquired: float
    expires: float

    def describe(self, now: float) -> str:
        h = self.holder
        left = max(0.0, self.expires - now)
        return (
            f"leased by {h.source} run {h.owner} (pid {h.pid} on {h.controller}), "
            f"expires in {left:.0f}s"
        )


@frozen
class Claim:
    """What an acquisition got: the hosts now ours, those held by others, those taken over."""

    granted: tuple[str, ...]
    refused: Mapping[str, Lease]
    taken_over: Mapping[str, Lease]


class Leases(Protocol):
    """The lease records; the policy (how long, when a holder is gone) is LeaseStore's."""

    def claim(
        self,
        hosts: Sequence[str],
        holder: Holder,
        now: float,
        expires: float,
        abandoned: Callable[[Lease], bool],
    ) -> Claim:
        """In one atomic step, grant each host that is free, held by `holder` already, or
        held by a lease `abandoned` says may be taken over (each such lease is in taken_over);
        the others are refused."""
        ...

    def renew(self, hosts: Sequence[str], owner: str, expires: float) -> int:
        """Extend `owner`'s leases of `hosts`; how many it held."""
        ...

    def release(self, hosts: Sequence[str], owner: str) -> None: ...

    def all(self) -> list[Lease]:
        """Every lease, by host."""
        ...


class LeaseStore:
    """Leases for `ttl` seconds, taken over from a holder that is gone."""

    def __init__(
        self,
        leases: Leases,
        ttl: float,
        clock: Callable[[], float] = time.time,
        alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        self.records, self.ttl, self.clock, self.alive = leases, ttl, clock, alive

    def acquire(self, hosts: Sequence[str], holder: Holder) -> Claim:
        now = self.clock()
        return self.records.claim(
            hosts, holder, now, now + self.ttl, lambda lease: self._abandoned(lease, now)
        )

    def _abandoned(self, lease: Lease, now: float) -> bool:
        return abandoned(lease, now, self.alive)

    def renew(self, hosts: Sequence[str], owner: str) -> int:
        return self.records.renew(hosts, owner, self.clock() + self.ttl)

    def release(self, hosts: Sequence[str], owner: str) -> None:
        self.records.release(hosts, owner)

    def leases(self) -> list[Lease]:
        return self.records.all()


def abandoned(lease: Lease, now: float, alive: Callable[[int], bool] = pid_alive) -> bool:
    """Whether a claim may take `lease` over: it expired, or its holder was a process of this
    controller (not this one) that no longer exists."""
    if lease.expires <= now:
        return True
    here = lease.holder.controller == socket.gethostname()
    return here and lease.holder.pid != os.getpid() and not alive(lease.holder.pid)


@frozen
class Leasing:
    """What a run needs to take its leases: where, and as whom."""

    store: LeaseStore
    holder: Holder


def leasing(leases: Leases, ttl: float, run_id: str, source: str) -> Leasing:
    return Leasing(LeaseStore(leases, ttl), Holder(run_id, source))


@contextmanager
def hold_leases(
    leases: LeaseStore, hosts: Sequence[str], holder: Holder, events: EventSink
) -> Iterator[dict[str, HostSkipped]]:
    """Claim `hosts` for the duration of the block, renewing in the background.

    Yields the hosts that must be skipped, each with its host_skipped data (the reason, and
    the holder as its lease records it); takeovers are events.
    """
    claim = leases.acquire(hosts, holder)
    now = leases.clock()
    for host, old in claim.taken_over.items():
        events.emit(Event(takeover_payload(old, now), host))
    skipped = {host: _refusal(lease, now) for host, lease in claim.refused.items()}
    with renewing(leases, claim.granted, holder.owner):
        yield skipped


@contextmanager
def renewing(leases: LeaseStore, keys: Sequence[str], owner: str) -> Iterator[None]:
    """Renew `owner`'s leases of `keys` in the background while the block lasts, and release
    them when it ends."""
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_until,
        args=(leases, keys, owner, stop),
        name="lease-renewer",
        daemon=True,
    )
    if keys:
        renewer.start()
    try:
        yield
    finally:
        stop.set()
        if renewer.is_alive():
            renewer.join(timeout=5.0)
        # a store that cannot be written: the leases expire, or die with this process
        with contextlib.suppress(StoreError):
            leases.release(keys, owner)


def _renew_until(
    leases: LeaseStore, hosts: Sequence[str], owner: str, stop: threading.Event
) -> None:
    while not stop.wait(leases.ttl / 3):
        try:
            leases.renew(hosts, owner)
        except StoreError:
            continue  # the database is busy or gone for a moment: the next renewal retries


def _refusal(lease: Lease, now: float) -> HostSkipped:
    holder = lease.holder
    return HostSkipped(
        lease.describe(now),
        holder.owner,
        holder.pid,
        holder.controller,
        holder.source,
        lease.expires,
    )


def takeover_payload(old: Lease, now: float) -> LeaseTakeover:
    """The lease_takeover event's data: whose lease `old` was, and how long it had expired."""
    return LeaseTakeover(
        previous_owner=old.holder.owner,
        previous_pid=old.holder.pid,
        previous_controller=old.holder.controller,
        previous_source=old.holder.source,
        expired=old.expires <= now,
        expired_seconds_ago=round(max(0.0, now - old.expires), 3),
    )
