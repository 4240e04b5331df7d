"""The stores backups go to: `backup_stores:` of jarvisctl.yml, and the default "local".

A store is resolved when first asked for: a restic password comes from env() or secret_file()
(added to the secrets every output redacts), so a store no backup uses never needs its
variable set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path

from jarvisctl.config.models.backups import LocalStoreSpec, ResticStoreSpec
from jarvisctl.config.project import Project
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.config.yamlsrc import display_path
from jarvisctl.core.errors import ConfigError, Location, known_list
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.plan.model import BackupStorePlan

DEFAULT_STORE = "local"
# restic repositories that are not a local directory (restic's own prefixes)
_REMOTE = re.compile(r"^(local|sftp|rest|s3|b2|azure|gs|swift|rclone):")


@frozen
class BackupStores(Mapping[str, BackupStorePlan]):
    """Every store a project can name, resolved on first use; `[name]` raises a located
    ConfigError for a store that cannot be used, KeyError for one that is not declared."""

    project: Project
    templates: Templates
    made: dict[str, BackupStorePlan] = field(default_factory=dict, compare=False, repr=False)

    def __getitem__(self, name: str) -> BackupStorePlan:
        found = self.made.get(name)
        if found is None:
            found = self.made[name] = self._resolve(name)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.names)

    @property
    def names(self) -> tuple[str, ...]:
        declared = self.project.config.backup_stores
        return tuple(sorted({DEFAULT_STORE, *declared}))

    def known(self, near: str | None = None) -> str:
        return known_list(self.names, near=near)

    def _resolve(self, name: str) -> BackupStorePlan:
        spec = self.project.config.backup_stores.get(name)
        if spec is None and name == DEFAULT_STORE:
            return BackupStorePlan(name, "local", str(self.project.state_dir / "backups"))
        if spec is None:
            raise KeyError(name)
        if isinstance(spec, LocalStoreSpec):
            return BackupStorePlan(name, "local", str(self._under_root(spec.path)))
        return self._restic(name, spec)

    def _restic(self, name: str, spec: ResticStoreSpec) -> BackupStorePlan:
        repository = spec.repository
        if not _REMOTE.match(repository):
            repository = str(self._under_root(repository))
        where = self._locate(name, "password")
        try:
            password = self.templates.render_value(spec.password, {})
        except TemplateError as exc:
            raise ConfigError.at(where, f"backup store {name!r}: password: {exc}") from None
        if not isinstance(password, str) or not password:
            raise ConfigError.at(where, f"backup store {name!r}: the password is empty")
        if password not in self.templates.secrets.frozen():
            self.templates.secrets.add(password)  # redacted, although written in the file
            raise ConfigError.at(
                where,
                f"backup store {name!r}: the password must come from env() or secret_file() "
                "alone, so that it is never written in a file",
                "e.g. password: \"{{ env('RESTIC_PASSWORD') }}\"",
            )
        return BackupStorePlan(name, "restic", repository, password)

    def _under_root(self, path: str) -> Path:
        return Path(path) if Path(path).is_absolute() else self.project.root / path

    def _locate(self, name: str, key: str) -> Location | None:
        if self.project.source is not None:
            return self.project.source.locate(("backup_stores", name, key))
        if self.project.config_file is not None:
            return Location(display_path(self.project.config_file))
        return None


def store_plans(project: Project, secrets: SecretValues) -> BackupStores:
    """Every store of the project (declared, and the default "local"), for the commands that
    open stores without a play (`jarvisctl backups ...`); each resolved when first read."""
    secret_dirs = tuple(project.root / d for d in project.config.secret_dirs)
    return BackupStores(project, Templates(project.root, secrets, secret_dirs))
