"""The connection pool: one connection per host, started early on request, reused, closed."""

from __future__ import annotations

from jarvisctl.connection import ConnectionSettings
from jarvisctl.executor.pool import ConnectionPool
from tests.fakes import FakeConnection


def test_warm_starts_each_connection_once_and_get_reuses_it() -> None:
    made: list[FakeConnection] = []

    def factory(settings: ConnectionSettings) -> FakeConnection:
        made.append(FakeConnection(settings))
        return made[-1]

    pool = ConnectionPool(factory)
    hosts = [ConnectionSettings(host=f"h{i}", address=f"10.0.0.{i}") for i in range(3)]
    pool.warm(hosts[:2])
    assert [c.preconnected for c in made] == [1, 1] and not any(c.opened for c in made)
    assert pool.get(hosts[0]) is made[0] and made[0].opened == 1
    assert pool.get(hosts[2]) is made[2] and made[2].preconnected == 0
    pool.close_all()
    assert pool.open_count == 0
