"""One inventory host and one group, as loaded: frozen values that the inventory (model.py), the
variables rendering (rendering.py) and the planner read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from jarvisctl.core.errors import Location
from jarvisctl.core.frozen import frozen


@frozen
class Host:
    """One inventory host with its variables merged in Ansible's order of precedence."""

    name: str
    groups: tuple[str, ...]  # every group it belongs to, 'all' first, then in merge order
    vars: Mapping[str, Any]
    origins: Mapping[str, str]  # variable -> where its winning value was set
    location: Location | None
    # Where each winning value was set, so a bad value can be reported at its source.
    var_locations: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)

    def __hash__(self) -> int:  # the mappings are not hashable; equal hosts share a name
        return hash(("host", self.name))


@frozen
class Group:
    """One group: its direct members and its own variables (group_vars files included)."""

    name: str
    children: tuple[str, ...]
    hosts: tuple[str, ...]
    vars: Mapping[str, Any]
    location: Location | None

    def __hash__(self) -> int:
        return hash(("group", self.name))
