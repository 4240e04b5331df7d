"""The inventory while it is being read: groups, hosts and located variables, in file order.

Both file formats feed one `InventoryDraft`, which applies Ansible's rules for membership
(`all`, `ungrouped`, parent/child edges) so that the formats cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jarvisctl.core.errors import Location, ProblemCollector
from jarvisctl.core.frozen import frozen

PRIORITY_VAR = "ansible_group_priority"


@frozen
class Value:
    """A variable's value and where it was set."""

    value: Any
    location: Location | None
    origin: str  # as shown to the operator, e.g. "inventory/prod.yml:12:9 (group jetsons)"


@dataclass
class GroupDraft:
    """A group as the source has declared it so far: its hosts, children and parents, its variables
    and its priority (ansible_group_priority)."""

    name: str
    location: Location | None
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    # an ordered set: one line of a host range adds thousands, each checked for membership
    hosts: dict[str, None] = field(default_factory=dict)
    vars: dict[str, Value] = field(default_factory=dict)
    priority: int = 1


@dataclass
class HostDraft:
    """A host as the source has declared it so far: its variables and its direct groups."""

    name: str
    location: Location | None
    vars: dict[str, Value] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # direct memberships


class InventoryDraft:
    """Collects what a source file declares; `finish` applies Ansible's implicit rules."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems = ProblemCollector()
        self.groups: dict[str, GroupDraft] = {}
        self.hosts: dict[str, HostDraft] = {}
        for name in ("all", "ungrouped"):
            self.add_group(name, None)
        self.add_child("all", "ungrouped", None)

    def add_group(self, name: str, location: Location | None) -> GroupDraft:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = GroupDraft(name, location)
        elif group.location is None:
            group.location = location
        return group

    def add_host(
        self, name: str, group: str | None, location: Location | None, port: int | None = None
    ) -> HostDraft:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = HostDraft(name, location)
            if port is not None:  # like Ansible, a port in the name counts only where first seen
                host.vars["ansible_port"] = Value(port, location, str(location))
        if group is not None:
            self._join(host, self.groups[group])
        return host

    def _join(self, host: HostDraft, group: GroupDraft) -> None:
        group.hosts[host.name] = None
        if group.name not in host.groups:
            host.groups.append(group.name)

    def add_child(self, parent: str, child: str, location: Location | None) -> None:
        if child == "all":
            self.problems.add(location, f"group 'all' cannot be a child of '{parent}'")
        elif child == parent or parent in self.descendants(child):
            self.problems.add(
                location,
                f"making '{child}' a child of '{parent}' creates a loop",
                "a group cannot contain itself, directly or through its children",
            )
        elif child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
            self.groups[child].parents.append(parent)

    def set_group_var(self, group: str, name: str, value: Value) -> None:
        if name != PRIORITY_VAR:
            self.groups[group].vars[name] = value
        elif isinstance(value.value, int) and not isinstance(value.value, bool):
            self.groups[group].priority = value.value
        elif isinstance(value.value, str) and value.value.strip().lstrip("-").isdigit():
            self.groups[group].priority = int(value.value)
        else:
            self.problems.add(
                value.location, f"{PRIORITY_VAR} must be an integer, got {value.value!r}"
            )

    def set_host_var(self, host: str, name: str, value: Value) -> None:
        self.hosts[host].vars[name] = value

    def descendants(self, group: str) -> set[str]:
        found: set[str] = set()
        pending = list(self.groups[group].children)
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending.extend(self.groups[name].children)
        return found

    def finish(self) -> None:
        """Attach parentless groups to `all` and groupless hosts to `ungrouped`, as Ansible does."""
        for group in list(self.groups.values()):
            if group.name != "all" and not group.parents:
                self.add_child("all", group.name, None)
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts.values():
            if set(host.groups) - {"all", "ungrouped"}:
                if host.name in ungrouped.hosts:
                    del ungrouped.hosts[host.name]
                    host.groups.remove("ungrouped")
            else:
                self._join(host, ungrouped)

    def depths(self) -> dict[str, int]:
        """Each group's depth: the longest path from `all` (parents merge before children)."""
        depth: dict[str, int] = {}

        def visit(name: str) -> int:
            if name not in depth:
                parents = self.groups[name].parents
                depth[name] = max((visit(p) + 1 for p in parents), default=0)
            return depth[name]

        for name in self.groups:
            visit(name)
        return depth

    def ancestors(self, group: str) -> list[str]:
        found: list[str] = []
        pending = list(self.groups[group].parents)
        while pending:
            name = pending.pop(0)
            if name not in found:
                found.append(name)
                pending.extend(self.groups[name].parents)
        return found
