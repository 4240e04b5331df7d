"""Fixtures for end-to-end tests: session-wide fleets of real sshd hosts on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.sshd import SshdFleet, SshdHost, sshd_unavailable_reason
from tests.host_tools import bare_path, tools_hidden

# Enough hosts for "several hosts, one of them broken"; starting them costs ~0.1 s in all.
SSHD_HOSTS = 4


def _fleet(directory: Path, count: int, path: str | None) -> Iterator[SshdFleet]:
    reason = sshd_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    fleet = SshdFleet(directory, count, path)
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture(scope="session")
def bare_path_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH holding only the commands every Debian has (see tests/host_tools.py)."""
    return bare_path(tmp_path_factory.mktemp("bare-path"))


@pytest.fixture(scope="session")
def sshd_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdFleet]:
    """The hosts most tests use, with this machine's PATH (the bare one with
    JARVIS_TEST_HIDE_TOOLS=1)."""
    directory = tmp_path_factory.mktemp("sshd")
    path = bare_path(directory / "bare-path") if tools_hidden() else None
    yield from _fleet(directory, SSHD_HOSTS, path)


@pytest.fixture(scope="session")
def bare_sshd_fleet(
    tmp_path_factory: pytest.TempPathFactory, bare_path_dir: str
) -> Iterator[SshdFleet]:
    """One host whose sessions get the bare PATH: no optional tool, whatever this machine has."""
    yield from _fleet(tmp_path_factory.mktemp("bare-sshd"), 1, bare_path_dir)


@pytest.fixture
def sshd_hosts(sshd_fleet: SshdFleet) -> list[SshdHost]:
    """The fleet's hosts, each running with its original host key whatever earlier tests did."""
    sshd_fleet.reset()
    return sshd_fleet.hosts
