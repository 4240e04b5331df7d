"""What makes one check's plan differ from host to host, so that equal plans are made once.

A check's plan depends on the host only through the values its templates render to and the
thresholds the host's `thresholds` variable sets. A `Recipe` names the parameters (of the check
and of its remediations) that hold a template; rendering just those for a host gives a key, and
hosts with equal keys get the same plan. On a fleet of 10,000 hosts each distinct plan is then
validated and built once, and shared (plans are frozen), instead of once per host.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from jarvisctl.config.models.playbook import CheckSpec, ThresholdOverride
from jarvisctl.config.templating.cache import is_template
from jarvisctl.config.yamlsrc import NodePath
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import CheckKind, RemediationKind
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan.catalogue import Catalogue

Kind = CheckKind[Any] | RemediationKind[Any]
# a parameter rendered for one host and frozen, or None where that fails or is too large to key
Render = Callable[[Kind, str, Any], Hashable]


@frozen
class Recipe:
    """The parameters of a check and its remediations whose value a template makes."""

    templated: tuple[tuple[Kind, str, Any], ...]

    @classmethod
    def of(cls, spec: CheckSpec, catalogue: Catalogue, registry: KindRegistry) -> Recipe | None:
        """None when a name is unknown: resolution reports it, host by host."""
        entry = catalogue.checks.get(spec.use)
        kind = registry.checks.get(entry.definition.kind if entry else spec.use)
        if kind is None:
            return None
        parts: list[tuple[Kind, Mapping[str, Any], Mapping[str, Any]]] = [
            (kind, entry.definition.param_defaults() if entry else {}, spec.with_)
        ]
        for binding in spec.remediate:
            found = catalogue.remediations.get(binding.use)
            remedy = registry.remediations.get(found.definition.kind if found else binding.use)
            if remedy is None:
                return None
            parts.append(
                (remedy, found.definition.param_defaults() if found else {}, binding.with_)
            )
        return cls(
            tuple(
                (kind, name, value)
                for kind, defaults, given in parts
                for name, value in {**defaults, **given}.items()
                if not _constant(value)
            )
        )

    def key(
        self, path: NodePath, override: ThresholdOverride | None, render: Render
    ) -> Hashable | None:
        """The check, the host's override and what its templates render to for this host;
        None when a template fails (resolution reports it) or a value is too large to key."""
        values: list[Hashable] = []
        for kind, name, value in self.templated:
            frozen = render(kind, name, value)
            if frozen is None:
                return None
            values.append(frozen)
        key = (path, override, *values)
        try:
            hash(key)
        except TypeError:  # an override holding something unhashable: resolve every time
            return None
        return key


def _constant(value: Any) -> bool:
    """A value every host renders alike: a scalar that is not a template."""
    if isinstance(value, str):
        return not is_template(value)
    return isinstance(value, int | float | bool) or value is None
