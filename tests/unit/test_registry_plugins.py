"""Kinds from third-party packages (entry points), and the registry loaded once per process."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint, EntryPoints

import pytest

from jarvisctl.core import entry_points
from jarvisctl.core.errors import ConfigError
from jarvisctl.kinds import registry, system
from jarvisctl.kinds.registry import CHECK_GROUP, REMEDIATION_GROUP, load_registry


class PluginDisk(system.DiskUsage):
    name = "plugin_disk"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    points: list[EntryPoint] = []
    monkeypatch.setattr(entry_points, "_installed", lambda: EntryPoints(points))
    registry._load_registry.cache_clear()
    yield points
    registry._load_registry.cache_clear()


def test_a_plugin_kind_joins_the_built_in_ones(installed: list[EntryPoint]) -> None:
    installed.append(EntryPoint("plugin_disk", f"{__name__}:PluginDisk", CHECK_GROUP))
    kinds = load_registry()
    assert isinstance(kinds.checks["plugin_disk"], PluginDisk)
    assert "disk_usage" in kinds.checks
    assert load_registry() is kinds  # loaded once per process


@pytest.mark.parametrize(
    ("value", "group", "message"),
    [
        ("no_such_module:Kind", CHECK_GROUP, "cannot load plugin: No module named"),
        (f"{__name__}:PluginDisk", REMEDIATION_GROUP, "is not a subclass of RemediationKind"),
    ],
)
def test_a_broken_plugin_is_a_located_error(
    installed: list[EntryPoint], value: str, group: str, message: str
) -> None:
    installed.append(EntryPoint("broken", value, group))
    with pytest.raises(ConfigError, match=f"entry point broken = {value}.*{message}"):
        load_registry()
