"""The check and remediation definitions a project can use (its catalogue entries and the
kinds), as `jarvisctl checks` and `jarvisctl remediations` list and show them."""

from __future__ import annotations

from collections.abc import Callable

from jarvisctl.config.project import Project
from jarvisctl.kinds.registry import KindRegistry, load_registry
from jarvisctl.plan.catalogue import Catalogue, load_catalogue, search_dirs
from jarvisctl.plan.reference import Reference

Lister = Callable[[Catalogue, KindRegistry], list[Reference]]


def definitions(project: Project, lister: Lister) -> list[Reference]:
    """`lister`'s references (plan.reference: check_references, remediation_references) over
    the project's catalogue: its configured folders, its own and the shipped ones."""
    registry = load_registry()
    settings = project.config.catalogue
    catalogue = load_catalogue(
        search_dirs("checks", project.root, settings.checks, []),
        search_dirs("remediations", project.root, settings.remediations, []),
        registry,
    )
    return lister(catalogue, registry)
