"""Connection types by name: the built-ins, and third-party ones from entry points."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint, EntryPoints
from pathlib import Path

import pytest
import tomllib

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.connection import registry
from jarvisctl.connection.local import LocalConnection
from jarvisctl.core import entry_points
from jarvisctl.core.errors import ConfigError

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
SETTINGS = ConnectionSettings(host="h", address="h", connection="local")


class PluginLocal(LocalConnection):
    """A third party's connection type (here: the local one under another class)."""


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    points: list[EntryPoint] = []
    monkeypatch.setattr(entry_points, "_installed", lambda: EntryPoints(points))
    registry.connection_type.cache_clear()
    registry._points.cache_clear()
    yield points
    registry.connection_type.cache_clear()
    registry._points.cache_clear()


def test_the_built_ins_are_known_without_installed_metadata(installed: list[EntryPoint]) -> None:
    connection = registry.make_connection(SETTINGS)
    assert type(connection) is LocalConnection
    ssh = registry.connection_type("ssh")
    assert f"{ssh.__module__}:{ssh.__qualname__}" == "jarvisctl.connection.ssh:SSHConnection"


def test_an_entry_point_names_a_connection_type(installed: list[EntryPoint]) -> None:
    installed.append(EntryPoint("local", f"{__name__}:PluginLocal", registry.GROUP))
    assert type(registry.make_connection(SETTINGS)) is PluginLocal


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no_such_module:Connection", "cannot load plugin: No module named"),
        (f"{__name__}:SETTINGS", "is not a connection class"),
    ],
)
def test_a_broken_plugin_is_a_located_error(
    installed: list[EntryPoint], value: str, message: str
) -> None:
    installed.append(EntryPoint("local", value, registry.GROUP))
    with pytest.raises(ConfigError, match=f"entry point local = {value}.*{message}"):
        registry.make_connection(SETTINGS)


def test_an_unknown_type_says_which_exist(installed: list[EntryPoint]) -> None:
    with pytest.raises(ConfigError, match=r"unknown connection type 'sssh' \(did you mean 'ssh'"):
        registry.connection_type("sssh")


def test_pyproject_declares_exactly_the_built_ins() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][registry.GROUP]
    assert declared == dict(registry.BUILTIN)


def test_a_local_connection_does_not_import_the_ssh_implementation() -> None:
    probe = (
        "import sys\n"
        "from jarvisctl.connection import ConnectionSettings, open_connection\n"
        "open_connection(ConnectionSettings(host='h', address='h', connection='local')).close()\n"
        "print(sorted(m for m in ('paramiko', 'jarvisctl.connection.ssh') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
