"""Turn a finished draft and its variable files into the frozen `Inventory`.

Variables merge in Ansible's documented order, lowest first: the `all` group's inventory vars,
every other group's inventory vars, `group_vars/all`, every other group's `group_vars` file,
the host's inventory vars, its `host_vars` file. Groups merge parents before children (by depth),
then by `ansible_group_priority`, then by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from jarvisctl.inventory.draft import HostDraft, InventoryDraft, Value
from jarvisctl.inventory.model import Group, Host, Inventory


@dataclass(frozen=True)
class VarFiles:
    """Variables from `group_vars/` and `host_vars/`, by group or host name."""

    groups: Mapping[str, Mapping[str, Value]]
    hosts: Mapping[str, Mapping[str, Value]]


def build_inventory(draft: InventoryDraft, files: VarFiles) -> Inventory:
    """The frozen inventory; `draft.finish()` must have run."""
    depths = draft.depths()
    groups = {name: _group(draft, name, files) for name in draft.groups}
    hosts = {name: _host(draft, host, depths, files) for name, host in draft.hosts.items()}
    return Inventory(draft.source, MappingProxyType(hosts), MappingProxyType(groups))


def _group(draft: InventoryDraft, name: str, files: VarFiles) -> Group:
    group = draft.groups[name]
    values = {**group.vars, **files.groups.get(name, {})}
    return Group(
        name=name,
        children=tuple(group.children),
        hosts=tuple(group.hosts),
        vars=MappingProxyType({key: value.value for key, value in values.items()}),
        location=group.location,
    )


def merge_order(draft: InventoryDraft, host: HostDraft, depths: Mapping[str, int]) -> list[str]:
    """The host's groups other than `all`, lowest precedence first."""
    names: set[str] = set()
    for direct in host.groups:
        names.add(direct)
        names.update(draft.ancestors(direct))
    names.discard("all")
    return sorted(names, key=lambda g: (depths[g], draft.groups[g].priority, g))


def _host(
    draft: InventoryDraft, host: HostDraft, depths: Mapping[str, int], files: VarFiles
) -> Host:
    order = merge_order(draft, host, depths)
    layers: list[Mapping[str, Value]] = [draft.groups["all"].vars]
    layers += [draft.groups[name].vars for name in order]
    layers += [files.groups.get(name, {}) for name in ("all", *order)]
    layers += [host.vars, files.hosts.get(host.name, {})]
    merged: dict[str, Value] = {}
    for layer in layers:
        merged.update(layer)
    values: dict[str, Any] = {key: value.value for key, value in merged.items()}
    return Host(
        name=host.name,
        groups=("all", *order),
        vars=MappingProxyType(values),
        origins=MappingProxyType({key: value.origin for key, value in merged.items()}),
        location=host.location,
        var_locations=MappingProxyType(
            {key: value.location for key, value in merged.items() if value.location is not None}
        ),
    )
