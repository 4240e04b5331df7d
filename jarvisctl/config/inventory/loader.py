"""Find and load an inventory as Ansible does: files (YAML, INI), directories of them, and
executable inventory scripts; several sources merged in order, with the `group_vars/` and
`host_vars/` of each source (beside a file, inside a directory)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from jarvisctl.config.configfile import (
    STDIN,
    config_exists,
    display_path,
    is_config_dir,
    list_config_dir,
    read_config_text,
)
from jarvisctl.config.inventory.build import VarFiles, build_inventory
from jarvisctl.config.inventory.draft import InventoryDraft, Value
from jarvisctl.config.inventory.ini_format import read_ini_inventory
from jarvisctl.config.inventory.model import LOCALHOST, Inventory
from jarvisctl.config.inventory.script import is_inventory_script, read_inventory_script
from jarvisctl.config.inventory.varfiles import load_var_dir
from jarvisctl.config.inventory.yaml_format import read_yaml_inventory
from jarvisctl.config.yamlsrc import load_yaml_text
from jarvisctl.core.errors import ConfigError, Location

YAML_SUFFIXES = (".yml", ".yaml", ".json")
INI_SUFFIXES = (".ini", ".cfg")
BUILT_IN = "<built-in>"
# The first meaningful line of a YAML inventory is `---` or a mapping key such as `all:`.
YAML_START = re.compile(r"^(---|\{|[^\s\[#;=]+:(\s|$))")
# What ansible-core skips in an inventory directory (inventory/manager.py IGNORED with
# INVENTORY_IGNORE_EXTS' defaults from config/base.yml): hidden entries, the variable
# directories, and editors', packagers' and documentation files by their ending.
IGNORED_NAMES = ("group_vars", "host_vars", "vars_plugins")
IGNORED_ENDINGS = (
    ".pyc",
    ".pyo",
    ".swp",
    ".bak",
    "~",
    ".rpm",
    ".md",
    ".txt",
    ".rst",
    ".orig",
    ".cfg",
    ".retry",
)


def default_inventory_path(project_root: Path) -> Path | None:
    """`inventory/local.yml` under the project root, if the project has one."""
    candidate = project_root / "inventory" / "local.yml"
    return candidate if config_exists(candidate) else None  # a FIFO there is reported


def load_inventory(sources: Path | Sequence[Path]) -> Inventory:
    """Load one or more inventory sources, merged in order as several `-i` are in Ansible;
    every mistake in them and their variable files is reported at once."""
    paths = [sources] if isinstance(sources, Path) else list(sources)
    draft = InventoryDraft(", ".join(display_path(path) for path in paths))
    for path in paths:
        _read_source(path, draft, set())
    draft.problems.raise_if_any()
    draft.finish()
    names = [*draft.hosts, *(name for name in LOCALHOST if name not in draft.hosts)]
    loaded: dict[Path, VarFiles] = {}
    files = []
    for path in paths:
        # a directory's own group_vars, else those beside the file (Ansible's vars plugin)
        folder = path if is_config_dir(path) else path.parent
        if folder not in loaded:
            loaded[folder] = VarFiles(
                groups=load_var_dir(folder / "group_vars", draft.groups, draft.problems),
                hosts=load_var_dir(folder / "host_vars", names, draft.problems),
            )
        files.append(loaded[folder])
    draft.problems.raise_if_any()
    return build_inventory(draft, files)


def _read_source(path: Path, draft: InventoryDraft, walked: set[Path]) -> None:
    if not is_config_dir(path):
        _read_file(path, draft)
        return
    real = path.resolve()
    if real in walked:  # a symbolic link back up the tree: walking it would never end
        draft.problems.add(
            Location(display_path(path)),
            "is a symbolic link to a directory already being read (a loop)",
            "link to a directory outside the inventory directory, or copy the files",
        )
        return
    try:
        entries = list_config_dir(path, "inventory directory")
    except ConfigError as exc:
        draft.problems.absorb(exc)
        return
    read = [entry for entry in entries if not _ignored(entry.name)]
    if not read and not walked:  # ansible-core would go on with no host but an implicit one
        draft.problems.add(
            Location(display_path(path)),
            "the inventory directory holds no inventory file",
            "YAML or INI files or inventory scripts; hidden files, group_vars/, host_vars/ "
            f"and names ending in {', '.join(IGNORED_ENDINGS)} are skipped",
        )
    for entry in read:
        _read_source(entry, draft, walked | {real})


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_NAMES or name.endswith(IGNORED_ENDINGS)


def _read_file(path: Path, draft: InventoryDraft) -> None:
    """Declare into `draft` what one file holds: a script's output, or YAML or INI text."""
    try:
        # an executable inventory file that is no program (ENOEXEC) is read as text
        if is_inventory_script(path) and read_inventory_script(path, draft):
            return
        name = display_path(path)
        text = read_config_text(path, "inventory file", "give the inventory file inside it")
        if text.startswith("#!"):  # read as INI, a script's lines would become hosts
            raise ConfigError.at(
                Location(name, 1, 1),
                "starts with '#!' like an inventory script, but is not executable",
                "make it executable (chmod +x) to run it as an inventory script",
            )
        if _is_yaml(path, text):
            read_yaml_inventory(load_yaml_text(text, name), draft)
        else:
            read_ini_inventory(text, name, draft)
    except ConfigError as exc:
        draft.problems.absorb(exc)


def local_inventory() -> Inventory:
    """The inventory used when none is given: the local machine, reached without SSH."""
    draft = InventoryDraft(BUILT_IN)
    draft.add_host("localhost", None, None)
    draft.set_host_var("localhost", "connection", Value("local", None, BUILT_IN))
    draft.finish()
    return build_inventory(draft, [])


def inventory_files(sources: Sequence[Path], walked: frozenset[Path] = frozenset()) -> list[Path]:
    """The files an inventory is read from, in the order they are read (for the audit
    trail's digest); variable files are not included."""
    found: list[Path] = []
    for path in sources:
        if is_config_dir(path) and path.resolve() not in walked:
            try:
                entries = [e for e in list_config_dir(path) if not _ignored(e.name)]
            except ConfigError:
                continue
            found += inventory_files(entries, walked | {path.resolve()})
        elif path == STDIN or os.path.isfile(path):  # `-i -`: what stdin held
            found.append(path)
    return found


def _is_yaml(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES or suffix in INI_SUFFIXES:
        return suffix in YAML_SUFFIXES
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and stripped[0] not in "#;":
            return YAML_START.match(stripped) is not None
    return False
