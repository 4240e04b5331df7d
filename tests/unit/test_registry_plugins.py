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


def test_each_built_in_kind_is_named_as_its_class_says() -> None:
    """The registry names the built-in kinds without importing them: each name must be the
    name its class declares, of the right base, and every kind module's kinds are listed."""
    import importlib
    import inspect

    from jarvisctl.kinds.base import CheckKind, RemediationKind
    from jarvisctl.kinds.registry import BUILTIN_CHECKS, BUILTIN_REMEDIATIONS

    listed: set[type] = set()
    for table, base in ((BUILTIN_CHECKS, CheckKind), (BUILTIN_REMEDIATIONS, RemediationKind)):
        for name, spec in table.items():
            module, cls_name = spec.split(":")
            cls = getattr(importlib.import_module(f"jarvisctl.kinds.{module}"), cls_name)
            assert issubclass(cls, base) and cls.name == name, spec
            listed.add(cls)
    modules = {
        spec.split(":")[0] for spec in [*BUILTIN_CHECKS.values(), *BUILTIN_REMEDIATIONS.values()]
    }
    defined = {
        cls
        for module in modules
        for _, cls in inspect.getmembers(importlib.import_module(f"jarvisctl.kinds.{module}"))
        if inspect.isclass(cls)
        and issubclass(cls, (CheckKind, RemediationKind))
        and cls.__module__ == f"jarvisctl.kinds.{module}"
        and not inspect.isabstract(cls)
        and getattr(cls, "name", None)
    }
    assert defined == listed
