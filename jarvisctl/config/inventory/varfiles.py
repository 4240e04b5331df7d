"""`group_vars/` and `host_vars/` beside an inventory file, found the way Ansible finds them.

For an entity `NAME` the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that exists is used;
if it is a directory, every file in it (recursively, sorted, extension-less or YAML/JSON, hidden
files and `~` backups skipped) is read in order and later files win.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from jarvisctl.config.configfile import config_exists, display_path, is_config_dir, list_config_dir
from jarvisctl.config.inventory.draft import Value
from jarvisctl.config.yamlsrc import Document, load_yaml_file
from jarvisctl.core.errors import ConfigError, Location, ProblemCollector

VAR_FILE_EXTENSIONS = (".yml", ".yaml", ".json")


def load_var_dir(
    directory: Path, names: Iterable[str], problems: ProblemCollector
) -> dict[str, dict[str, Value]]:
    """The variables of each named entity that has files in `directory` (later files win).

    Nothing is skipped silently: a FIFO, a dangling link or an unreadable file where a
    variables file would be is a located error, as is a `group_vars` that is not a directory.
    """
    found: dict[str, dict[str, Value]] = {}
    if not config_exists(directory):
        return found
    try:
        present = _listing(directory)
    except ConfigError as exc:
        problems.absorb(exc)
        return found
    for name in names:
        merged: dict[str, Value] = {}
        try:
            for path in var_files_for(present, name):
                merged.update(_file_vars(path, problems))
        except ConfigError as exc:
            problems.absorb(exc)
        if merged:
            found[name] = merged
    return found


def _listing(directory: Path) -> dict[str, Path]:
    """The entries of group_vars/ or host_vars/ by name: listed once, not probed per host."""
    if not is_config_dir(directory):
        raise ConfigError.at(
            Location(display_path(directory)),
            "is not a directory",
            "a directory of variable files named after groups or hosts",
        )
    return {entry.name: entry for entry in list_config_dir(directory)}


def var_files_for(present: dict[str, Path], name: str) -> list[Path]:
    """The files that hold the variables of `name`, in the order they are merged."""
    for suffix in ("", *VAR_FILE_EXTENSIONS):
        candidate = present.get(f"{name}{suffix}")
        if candidate is None:
            continue
        if is_config_dir(candidate):
            return _dir_files(candidate)
        return [candidate]  # the reader says what is wrong with one that is not a file
    return []


def _dir_files(directory: Path) -> list[Path]:
    real = directory.resolve()
    files: list[Path] = []
    for entry in list_config_dir(directory):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if is_config_dir(entry) and not entry.suffix:
            if real.is_relative_to(entry.resolve()):  # walking it would never end
                raise ConfigError.at(
                    Location(display_path(entry)),
                    "is a symbolic link to a directory above it (a loop)",
                    "link to a directory outside group_vars/host_vars, or copy the files",
                )
            files.extend(_dir_files(entry))
        elif not entry.suffix or entry.suffix in VAR_FILE_EXTENSIONS:
            files.append(entry)  # a directory or FIFO named x.yml is reported by the reader
    return files


def _file_vars(path: Path, problems: ProblemCollector) -> dict[str, Value]:
    try:
        document = load_yaml_file(path)
    except ConfigError as exc:
        problems.absorb(exc)
        return {}
    return _document_vars(document, problems)


def _document_vars(document: Document, problems: ProblemCollector) -> dict[str, Value]:
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
