"""Find and load an inventory: YAML or INI, with `group_vars/` and `host_vars/` beside it."""

from __future__ import annotations

import re
from pathlib import Path

from jarvisctl.configfile import config_exists, display_path, read_config_text
from jarvisctl.inventory.build import VarFiles, build_inventory
from jarvisctl.inventory.draft import InventoryDraft, Value
from jarvisctl.inventory.ini_format import read_ini_inventory
from jarvisctl.inventory.model import Inventory
from jarvisctl.inventory.varfiles import load_var_dir
from jarvisctl.inventory.yaml_format import read_yaml_inventory
from jarvisctl.yamlsrc import load_yaml_text

YAML_SUFFIXES = (".yml", ".yaml", ".json")
INI_SUFFIXES = (".ini", ".cfg")
BUILT_IN = "<built-in>"
# The first meaningful line of a YAML inventory is `---` or a mapping key such as `all:`.
YAML_START = re.compile(r"^(---|\{|[^\s\[#;=]+:(\s|$))")


def default_inventory_path(project_root: Path) -> Path | None:
    """`inventory/local.yml` under the project root, if the project has one."""
    candidate = project_root / "inventory" / "local.yml"
    return candidate if config_exists(candidate) else None  # a FIFO there is reported


def load_inventory(path: Path) -> Inventory:
    """Load an inventory file; every mistake in it and its variable files is reported at once."""
    name = display_path(path)
    text = read_config_text(path, "inventory file", "give the inventory file inside it")
    draft = InventoryDraft(name)
    if _is_yaml(path, text):
        read_yaml_inventory(load_yaml_text(text, name), draft)
    else:
        read_ini_inventory(text, name, draft)
    draft.problems.raise_if_any()
    draft.finish()
    files = VarFiles(
        groups=load_var_dir(path.parent / "group_vars", draft.groups, draft.problems),
        hosts=load_var_dir(path.parent / "host_vars", draft.hosts, draft.problems),
    )
    draft.problems.raise_if_any()
    return build_inventory(draft, files)


def local_inventory() -> Inventory:
    """The inventory used when none is given: the local machine, reached without SSH."""
    draft = InventoryDraft(BUILT_IN)
    draft.add_host("localhost", None, None)
    draft.set_host_var("localhost", "connection", Value("local", None, BUILT_IN))
    draft.finish()
    return build_inventory(draft, VarFiles({}, {}))


def _is_yaml(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES or suffix in INI_SUFFIXES:
        return suffix in YAML_SUFFIXES
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and stripped[0] not in "#;":
            return YAML_START.match(stripped) is not None
    return False
