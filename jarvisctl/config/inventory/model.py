"""The loaded inventory: its hosts and groups, host selection and connection settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import TYPE_CHECKING

from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.config.inventory.hosts import Group, Host
from jarvisctl.config.inventory.patterns import select_host_names
from jarvisctl.config.inventory.settings import CONNECTION_VARS, connection_settings
from jarvisctl.core.errors import ConfigError, PatternError, known_list
from jarvisctl.core.frozen import frozen

if TYPE_CHECKING:
    from jarvisctl.config.templating.templates import Templates

# The names ansible-core gives an implicit localhost when a pattern names one that the
# inventory does not declare (constants.LOCALHOST).
LOCALHOST = ("127.0.0.1", "localhost", "::1")


@frozen
class Inventory:
    """Hosts and groups from its sources, in the order the sources declare them."""

    source: str
    hosts: Mapping[str, Host]
    groups: Mapping[str, Group]
    # Ansible's implicit localhost under each of its names the inventory does not declare:
    # selected only by a pattern term naming it (never by `all` or a glob), local, in no group
    implicit: Mapping[str, Host] = field(default_factory=dict)

    def select(self, pattern: str) -> tuple[Host, ...]:
        """The hosts an Ansible host pattern selects, in ansible-core's order."""
        names = select_host_names(pattern, self.groups, self.hosts, self.implicit)
        return tuple(self.host(name) for name in names)

    def select_limit(self, limit: str) -> tuple[Host, ...]:
        """The hosts a `--limit` allows: a pattern whose `@file` terms name retry files."""
        from jarvisctl.config.inventory.limit import limit_terms

        names = select_host_names(limit_terms(limit), self.groups, self.hosts, self.implicit)
        return tuple(self.host(name) for name in names)

    def host(self, name: str) -> Host:
        """The host of that name, an implicit localhost included."""
        found = self.hosts.get(name) or self.implicit.get(name)
        if found is None:
            raise PatternError(
                f"no host named '{name}' in {self.source} ({known_list(self.hosts)})"
            )
        return found

    def settings(self, host: str, templates: Templates | None = None) -> ConnectionSettings:
        """How to reach `host`, from its connection variables, rendered with `templates` as
        Ansible renders them (`ansible_host: "{{ inventory_hostname }}.lan"`); without
        `templates`, a connection variable that is a template is refused."""
        found = self.host(host)
        if templates is None:
            return connection_settings(found.name, found.vars, found.var_locations)
        from jarvisctl.config.inventory.rendering import connection_values

        values, problems = connection_values(found, CONNECTION_VARS, templates)
        if problems:
            raise ConfigError(problems)
        return connection_settings(found.name, values, found.var_locations)
