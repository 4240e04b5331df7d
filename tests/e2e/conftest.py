"""Fixtures for end-to-end tests: a session-wide fleet of real sshd hosts on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost, sshd_unavailable_reason

# Enough hosts for "several hosts, one of them broken"; starting them costs ~0.1 s in all.
SSHD_HOSTS = 4


@pytest.fixture(scope="session")
def sshd_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdFleet]:
    reason = sshd_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    fleet = SshdFleet(tmp_path_factory.mktemp("sshd"), SSHD_HOSTS)
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture
def sshd_hosts(sshd_fleet: SshdFleet) -> list[SshdHost]:
    """The fleet's hosts, each running with its original host key whatever earlier tests did."""
    sshd_fleet.reset()
    return sshd_fleet.hosts
