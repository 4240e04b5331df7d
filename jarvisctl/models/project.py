"""`jarvisctl.yml`: project-wide settings. Every field has a default; the file is optional."""

from __future__ import annotations

from pydantic import Field

from jarvisctl.models.base import StrictModel
from jarvisctl.models.values import Duration


class Timeouts(StrictModel):
    connect: Duration = 10.0
    command: Duration = 30.0


class CataloguePaths(StrictModel):
    """Extra directories searched before the project's own checks/ and the shipped catalogue."""

    checks: list[str] = Field(default_factory=list)
    remediations: list[str] = Field(default_factory=list)


class ProjectConfig(StrictModel):
    inventory: str = "inventory/local.yml"
    state_dir: str = ".jarvisctl"
    forks: int = Field(default=20, ge=1, le=1000)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    catalogue: CataloguePaths = Field(default_factory=CataloguePaths)
    playbooks: list[str] = Field(default_factory=lambda: ["playbooks"])
