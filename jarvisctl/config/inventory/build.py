"""Turn a finished draft and its variable files into the frozen `Inventory`.

Variables merge in Ansible's documented order, lowest first: the `all` group's inventory vars,
every other group's inventory vars, `group_vars/all`, every other group's `group_vars` file,
the host's inventory vars, its `host_vars` file. Groups merge parents before children (by depth),
then by `ansible_group_priority`, then by name. With several sources, each layer of variable
files is read source by source (ansible-core's vars plugins run per source): a later source's
`group_vars/<parent>` wins over an earlier source's `group_vars/<child>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from jarvisctl.config.inventory.draft import HostDraft, InventoryDraft, Value
from jarvisctl.config.inventory.hosts import Group, Host
from jarvisctl.config.inventory.model import LOCALHOST, Inventory
from jarvisctl.core.errors import Location
from jarvisctl.core.frozen import frozen


@frozen
class VarFiles:
    """Variables from `group_vars/` and `host_vars/`, by group or host name."""

    groups: Mapping[str, Mapping[str, Value]]
    hosts: Mapping[str, Mapping[str, Value]]


def build_inventory(draft: InventoryDraft, files: Sequence[VarFiles]) -> Inventory:
    """The frozen inventory; `draft.finish()` must have run. `files` has the variable files
    of each source, in the order of the sources."""
    depths = draft.depths()
    groups = {name: _group(draft, name, files) for name in draft.groups}
    hosts = {name: _host(draft, host, depths, files) for name, host in draft.hosts.items()}
    implicit = {
        name: _implicit_localhost(draft, name, files)
        for name in LOCALHOST
        if name not in draft.hosts
    }
    return Inventory(
        draft.source, MappingProxyType(hosts), MappingProxyType(groups), MappingProxyType(implicit)
    )


def _group(draft: InventoryDraft, name: str, files: Sequence[VarFiles]) -> Group:
    group = draft.groups[name]
    values = dict(group.vars)
    for source in files:
        values.update(source.groups.get(name, {}))
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
    draft: InventoryDraft, host: HostDraft, depths: Mapping[str, int], files: Sequence[VarFiles]
) -> Host:
    order = merge_order(draft, host, depths)
    layers: list[Mapping[str, Value]] = [draft.groups["all"].vars]
    layers += [draft.groups[name].vars for name in order]
    layers += [source.groups.get("all", {}) for source in files]
    layers += [source.groups.get(name, {}) for source in files for name in order]
    layers += [host.vars, *(source.hosts.get(host.name, {}) for source in files)]
    return _frozen_host(host.name, ("all", *order), layers, host.location)


def _implicit_localhost(draft: InventoryDraft, name: str, files: Sequence[VarFiles]) -> Host:
    """Ansible's implicit localhost: in no group, yet with the `all` group's variables and its
    own host_vars file, reached without SSH."""
    local = {"ansible_connection": Value("local", None, "implicit localhost")}
    layers: list[Mapping[str, Value]] = [draft.groups["all"].vars]
    layers += [source.groups.get("all", {}) for source in files]
    layers += [local, *(source.hosts.get(name, {}) for source in files)]
    return _frozen_host(name, (), layers, None)


def _frozen_host(
    name: str,
    groups: tuple[str, ...],
    layers: Sequence[Mapping[str, Value]],
    location: Location | None,
) -> Host:
    merged: dict[str, Value] = {}
    for layer in layers:
        merged.update(layer)
    values: dict[str, Any] = {key: value.value for key, value in merged.items()}
    return Host(
        name=name,
        groups=groups,
        vars=MappingProxyType(values),
        origins=MappingProxyType({key: value.origin for key, value in merged.items()}),
        location=location,
        var_locations=MappingProxyType(
            {key: value.location for key, value in merged.items() if value.location is not None}
        ),
    )
