"""Fixtures for end-to-end tests: session-wide fleets of real sshd hosts on loopback.

With JARVIS_TEST_HIDE_TOOLS=1 (.ci/run's second pass), the fleets built on `fleet_path` give
their hosts the bare PATH, and only the tests that use such a fleet run: every other test
(local hosts only, or fleets whose PATH is their own: busybox's, the bare one) would run exactly
as in the first pass.
"""

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
def fleet_path(request: pytest.FixtureRequest) -> str | None:
    """The PATH of the usual fleets' sessions: sshd's default (this machine's commands), or
    the bare one with JARVIS_TEST_HIDE_TOOLS=1. A fleet that honours that variable takes its
    PATH from here, so that the second pass knows which tests to run again."""
    if not tools_hidden():
        return None
    bare: str = request.getfixturevalue("bare_path_dir")
    return bare


@pytest.fixture(scope="session")
def sshd_fleet(
    tmp_path_factory: pytest.TempPathFactory, fleet_path: str | None
) -> Iterator[SshdFleet]:
    """The hosts most tests use, with this machine's PATH (the bare one with
    JARVIS_TEST_HIDE_TOOLS=1)."""
    yield from _fleet(tmp_path_factory.mktemp("sshd"), SSHD_HOSTS, fleet_path)


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With the tools hidden, leave out the end-to-end tests that reach no fleet built on
    `fleet_path`: the variable changes nothing for them."""
    if not tools_hidden():
        return
    here = Path(__file__).parent
    same = [
        item
        for item in items
        if item.path.is_relative_to(here) and "fleet_path" not in getattr(item, "fixturenames", ())
    ]
    if same:
        config.hook.pytest_deselected(items=same)
        left = set(map(id, same))
        items[:] = [item for item in items if id(item) not in left]
