"""ansible-core's own inventory and variable managers, for tests that compare jarvisctl with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Variables ansible-core adds to every host on its own; jarvisctl leaves them to templating.
MAGIC = {
    "ansible_config_file",
    "ansible_facts",
    "ansible_playbook_python",
    "ansible_version",
    "group_names",
    "groups",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "omit",
    "playbook_dir",
}


class Ansible:
    """ansible-core's inventory and variable managers on one or more sources (`-i` in order)."""

    def __init__(self, *sources: Path) -> None:
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        self.loader = DataLoader()
        self.inventory = InventoryManager(loader=self.loader, sources=[str(s) for s in sources])
        self.variables = VariableManager(loader=self.loader, inventory=self.inventory)

    def select(self, pattern: str, limit: str | None = None) -> list[str]:
        """The hosts `pattern` selects, with `limit` applied as `--limit` applies it."""
        self.inventory.subset(limit)
        try:
            return [host.name for host in self.inventory.get_hosts(pattern)]
        finally:
            self.inventory.subset(None)

    def host_vars(self, name: str) -> dict[str, Any]:
        """The host's variables as Ansible holds them (unrendered), without the magic ones."""
        host = self.inventory.get_host(name)
        found = self.variables.get_vars(host=host, include_hostvars=False)
        return {key: found[key] for key in found if key not in MAGIC}

    def rendered(self, name: str, variable: str) -> Any:
        """`variable` as a task on host `name` sees it: rendered with all the host's variables."""
        from ansible.template import Templar

        host = self.inventory.get_host(name)
        found = self.variables.get_vars(host=host, include_hostvars=False)
        return Templar(loader=self.loader, variables=found).template(found[variable])


def groups_of(ansible: Ansible) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each group's child groups and own hosts, in ansible-core's order."""
    return {
        name: (tuple(g.name for g in group.child_groups), tuple(h.name for h in group.hosts))
        for name, group in ansible.inventory.groups.items()
    }
