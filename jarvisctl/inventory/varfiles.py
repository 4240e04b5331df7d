"""`group_vars/` and `host_vars/` beside an inventory file, found the way Ansible finds them.

For an entity `NAME` the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that exists is used;
if it is a directory, every file in it (recursively, sorted, extension-less or YAML/JSON, hidden
files and `~` backups skipped) is read in order and later files win.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from jarvisctl.errors import ConfigError, ProblemCollector
from jarvisctl.inventory.draft import Value
from jarvisctl.yamlsrc import Document, load_yaml_file

VAR_FILE_EXTENSIONS = (".yml", ".yaml", ".json")


def load_var_dir(
    directory: Path, names: Iterable[str], problems: ProblemCollector
) -> dict[str, dict[str, Value]]:
    """The variables of each named entity that has files in `directory` (later files win)."""
    found: dict[str, dict[str, Value]] = {}
    if not directory.is_dir():
        return found
    for name in names:
        merged: dict[str, Value] = {}
        for path in var_files_for(directory, name):
            try:
                merged.update(_file_vars(load_yaml_file(path), problems))
            except ConfigError as exc:
                problems.absorb(exc)
        if merged:
            found[name] = merged
    return found


def var_files_for(directory: Path, name: str) -> list[Path]:
    """The files that hold the variables of `name`, in the order they are merged."""
    for suffix in ("", *VAR_FILE_EXTENSIONS):
        candidate = directory / f"{name}{suffix}"
        if candidate.is_dir():
            return _dir_files(candidate)
        if candidate.is_file():
            return [candidate]
    return []


def _dir_files(directory: Path) -> list[Path]:
    files: list[Path] = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            files.extend(_dir_files(entry))
        elif entry.is_file() and (not entry.suffix or entry.suffix in VAR_FILE_EXTENSIONS):
            files.append(entry)
    return files


def _file_vars(document: Document, problems: ProblemCollector) -> dict[str, Value]:
    data = document.data
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.add(
            document.source.locate(()),
            f"a variables file must be a mapping of names to values, got {type(data).__name__}",
            "e.g. ntp_server: ntp.example.com",
        )
        return {}
    values: dict[str, Value] = {}
    for key, value in data.items():
        location = document.source.locate((key if isinstance(key, int) else str(key),), key=True)
        if not isinstance(key, str):
            problems.add(location, f"variable name {key!r} must be a string", "quote it")
            continue
        values[key] = Value(value, location, str(location))
    return values
