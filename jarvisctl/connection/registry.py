"""Which connection types exist, by the name an inventory gives them (`connection: local`).

The built-in types are named here by where they live, not imported: a run imports only the
implementation it uses (paramiko costs ~100 ms of a `connection: local` run's start-up). Third
parties add types through the entry point group `jarvisctl.connections`; the built-ins are
declared there too, and known without it, so that a source checkout without installed metadata
still connects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import EntryPoint

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection.base import Connection
from jarvisctl.core.entry_points import entry_points_of
from jarvisctl.core.errors import ConfigError, Location, known_list

GROUP = "jarvisctl.connections"
BUILTIN: Mapping[str, str] = {
    "local": "jarvisctl.connection.local:LocalConnection",
    "ssh": "jarvisctl.connection.ssh:SSHConnection",
}

ConnectionFactory = Callable[[ConnectionSettings], Connection]


def make_connection(settings: ConnectionSettings) -> Connection:
    """A connection of the kind `settings.connection` names, not yet opened."""
    return connection_type(settings.connection)(settings)


def open_connection(settings: ConnectionSettings) -> Connection:
    """A connection of the kind `settings.connection` names, opened (or UnreachableError)."""
    connection = make_connection(settings)
    connection.open()
    return connection


@cache
def connection_type(name: str) -> ConnectionFactory:
    """The class (or factory) that makes connections of type `name`; imported once, on first use."""
    point = _points().get(name)
    if point is None:
        raise ConfigError.at(
            None, f"unknown connection type {name!r}", known_list(_points(), near=name)
        )
    where = Location(f"entry point {point.name} = {point.value} ({GROUP})")
    try:
        loaded = point.load()
    except Exception as exc:  # a broken plugin must not crash the tool with a traceback
        raise ConfigError.at(where, f"cannot load plugin: {exc}") from None
    if not callable(loaded):
        raise ConfigError.at(where, "is not a connection class")
    made: ConnectionFactory = loaded
    return made


@cache
def _points() -> Mapping[str, EntryPoint]:
    """The built-ins, then the installed entry points (a plugin may replace a built-in)."""
    found = {name: EntryPoint(name, value, GROUP) for name, value in BUILTIN.items()}
    found.update((point.name, point) for point in entry_points_of(GROUP))
    return found
