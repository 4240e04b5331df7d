"""The hosts of an inventory as `plan` and `run` see them: what `jarvisctl inventory` lists,
shows and draws."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jarvisctl.config.inventory import Inventory
from jarvisctl.config.project import Project, resolve_inventory
from jarvisctl.config.templating.templates import Templates
from jarvisctl.core.secrets import SecretValues
from jarvisctl.plan.secret_vars import mark_inventory_secrets


def open_inventory(
    project: Project, paths: Sequence[Path], secrets: SecretValues
) -> tuple[Inventory, Templates]:
    """The inventory `plan` and `run` would use (every -i, else the project's, else localhost)
    and the templates that render its connection variables as `plan` does. The values of the
    variables it marks secret go to `secrets`, which the caller's output redacts with."""
    loaded = resolve_inventory(project, paths)
    mark_inventory_secrets(loaded.hosts.values(), secrets)
    secret_dirs = tuple(project.root / d for d in project.config.secret_dirs)
    return loaded, Templates(project.root, secrets, secret_dirs)
