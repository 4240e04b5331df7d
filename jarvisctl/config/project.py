"""The project: where `jarvisctl.yml` is, what it says, and the inventory it implies."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from jarvisctl.config.configfile import config_exists, is_config_dir
from jarvisctl.config.inventory import Inventory, load_inventory, local_inventory
from jarvisctl.config.models.project import ProjectConfig
from jarvisctl.config.validation import validate_document
from jarvisctl.config.yamlsrc import SourceMap, display_path, load_yaml_file
from jarvisctl.core.errors import ConfigError, Location, ProblemCollector
from jarvisctl.core.frozen import frozen

if TYPE_CHECKING:
    from jarvisctl.config.models.notify import NotifySettings

CONFIG_NAME = "jarvisctl.yml"


@frozen
class Project:
    """Where `jarvisctl.yml` is and what it says: the project's root (the file's directory, else the
    working directory) and its settings (the defaults when there is no file)."""

    root: Path
    config: ProjectConfig = field(default_factory=ProjectConfig)
    config_file: Path | None = None
    # where each setting of config_file is written (problems found later are located there)
    source: SourceMap | None = field(default=None, compare=False, repr=False)
    # `notify:` validated (config/notify.py); None: the project notifies nobody
    notify: NotifySettings | None = field(default=None, compare=False, repr=False)

    @property
    def state_dir(self) -> Path:
        override = os.environ.get("JARVISCTL_STATE_DIR")
        return Path(override) if override else self.root / self.config.state_dir


def find_config(start: Path) -> Path | None:
    """`jarvisctl.yml` in `start` or the nearest parent directory that has one."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if config_exists(candidate):  # a FIFO or broken link is reported, not skipped
            return candidate
    return None


def load_project(config: Path | None = None, start: Path | None = None) -> Project:
    """The project from an explicit config file, $JARVISCTL_CONFIG, or the nearest one upward."""
    explicit = config or (
        Path(os.environ["JARVISCTL_CONFIG"]) if "JARVISCTL_CONFIG" in os.environ else None
    )
    path = explicit or find_config((start or Path.cwd()).resolve())
    if path is None:
        return Project(root=(start or Path.cwd()).resolve())
    if explicit is not None and not config_exists(explicit):
        raise ConfigError.at(Location(display_path(explicit)), "configuration file not found")
    document = load_yaml_file(path, "configuration file")
    if document.data is None:
        return Project(root=path.resolve().parent, config_file=path)
    settings = validate_document(ProjectConfig, document, "a mapping of settings")
    if settings.backup_stores:  # (its models are imported only by a project that has some)
        from jarvisctl.config.backup_entries import load_backup_stores

        stores = load_backup_stores(settings.backup_stores, document.source)
        settings = settings.model_copy(update={"backup_stores": stores})
    root = path.resolve().parent
    _check_catalogue_dirs(settings, root, document.source)
    _check_secret_dirs(settings, root, document.source)
    notify = None
    if settings.notify is not None:  # (its models are imported only by a project that has it)
        from jarvisctl.config.notify import load_notify

        notify = load_notify(settings.notify, document.source)
    return Project(root, settings, path, document.source, notify)


def _check_catalogue_dirs(settings: ProjectConfig, root: Path, source: SourceMap) -> None:
    """A configured catalogue directory must exist: skipped, its checks would silently be
    "unknown" or, worse, shadowed by the shipped entries of the same name."""
    problems = ProblemCollector()
    for kind in ("checks", "remediations"):
        for index, entry in enumerate(getattr(settings.catalogue, kind)):
            if not is_config_dir(root / entry):  # never raises (a 5,000-character name)
                what = "is not a directory" if config_exists(root / entry) else "does not exist"
                problems.add(
                    source.locate(("catalogue", kind, index)),
                    f"catalogue directory {entry!r} {what}",
                    f"a directory of {kind[:-1]} definitions, relative to {root}",
                )
    problems.raise_if_any()


def _check_secret_dirs(settings: ProjectConfig, root: Path, source: SourceMap) -> None:
    """A secret_dirs entry must be a directory: a typo would make secret_file() refuse files
    the operator meant to allow, with an error that names a directory that is not there."""
    problems = ProblemCollector()
    for index, entry in enumerate(settings.secret_dirs):
        if not is_config_dir(root / entry):
            what = "is not a directory" if config_exists(root / entry) else "does not exist"
            problems.add(
                source.locate(("secret_dirs", index)),
                f"secret_dirs: {entry!r} {what}",
                f"a directory secret_file() may read, absolute or relative to {root}",
            )
    problems.raise_if_any()


def resolve_inventory(project: Project, explicit: Sequence[Path] = ()) -> Inventory:
    """Every `-i` when given (merged in order); else the project's configured inventory if it
    exists; else localhost."""
    if explicit:
        return load_inventory(explicit)
    configured = project.root / project.config.inventory
    if config_exists(configured):  # the reader reports a FIFO or broken link there
        return load_inventory(configured)
    if project.config_file is not None and "inventory" in project.config.model_fields_set:
        raise ConfigError.at(
            Location(display_path(project.config_file)),
            f"inventory {project.config.inventory!r} does not exist",
            "an inventory file, directory or script relative to the project root",
        )
    return local_inventory()
