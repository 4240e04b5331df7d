"""Ansible-compatible inventories: hosts, groups, merged variables, host patterns.

YAML and INI inventories load unchanged, with `group_vars/` and `host_vars/` beside them;
variables merge in Ansible's order and remember where each value came from.
"""

from __future__ import annotations

from jarvisctl.config.inventory.hosts import Group, Host
from jarvisctl.config.inventory.loader import (
    default_inventory_path,
    load_inventory,
    local_inventory,
)
from jarvisctl.config.inventory.model import Inventory

__all__ = [
    "Group",
    "Host",
    "Inventory",
    "default_inventory_path",
    "load_inventory",
    "local_inventory",
]
