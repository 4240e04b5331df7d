"""The generated reference of check and remediation definitions: what each measures or does,
its parameters, unit, direction, default thresholds and the command it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import CheckKind, RemediationKind
from jarvisctl.kinds.registry import KindRegistry
from jarvisctl.plan.catalogue import Catalogue, Entry, shipped_root


@frozen
class ParamInfo:
    name: str
    type: str
    default: Any
    required: bool
    description: str


@frozen
class Reference:
    name: str
    kind: str
    description: str
    source: str  # where the definition comes from: a file, or "kind" for a bare kind
    params: tuple[ParamInfo, ...]
    unit: str = ""
    direction: str = ""
    defaults: Mapping[str, str] | None = None
    on: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    note: str = ""  # why no command is shown


def check_references(catalogue: Catalogue, registry: KindRegistry) -> list[Reference]:
    found = {name: _check_entry(entry, registry) for name, entry in catalogue.checks.items()}
    for name, kind in registry.checks.items():
        found.setdefault(name, _bare_check(kind))
    return [found[name] for name in sorted(found)]


def remediation_references(catalogue: Catalogue, registry: KindRegistry) -> list[Reference]:
    found = {
        name: _remediation_entry(entry, registry) for name, entry in catalogue.remediations.items()
    }
    for name, kind in registry.remediations.items():
        found.setdefault(name, _bare_remediation(kind))
    return [found[name] for name in sorted(found)]


def _check_entry(entry: Entry[Any], registry: KindRegistry) -> Reference:
    definition = entry.definition
    kind: CheckKind[Any] = registry.checks[definition.kind]
    defaults = definition.defaults.model_dump(exclude_none=True)
    commands, note = _example(kind, definition.param_defaults(), lambda k, p: (k.command(p),))
    return Reference(
        name=definition.name,
        kind=kind.name,
        description=definition.description or kind.description,
        source=_source(entry),
        params=_params(kind, definition.param_defaults(), definition.params),
        unit=definition.unit if definition.unit is not None else kind.unit,
        direction=definition.direction or kind.direction,
        defaults={k: str(v) for k, v in defaults.items()},
        commands=commands,
        note=note,
    )


def _bare_check(kind: CheckKind[Any]) -> Reference:
    commands, note = _example(kind, {}, lambda k, p: (k.command(p),))
    return Reference(
        name=kind.name,
        kind=kind.name,
        description=kind.description,
        source="kind",
        params=_params(kind, {}, {}),
        unit=kind.unit,
        direction=kind.direction,
        defaults={},
        commands=commands,
        note=note,
    )


def _remediation_entry(entry: Entry[Any], registry: KindRegistry) -> Reference:
    definition = entry.definition
    kind: RemediationKind[Any] = registry.remediations[definition.kind]
    commands, note = _example(kind, definition.param_defaults(), lambda k, p: k.commands(p))
    return Reference(
        name=definition.name,
        kind=kind.name,
        description=definition.description or kind.description,
        source=_source(entry),
        params=_params(kind, definition.param_defaults(), definition.params),
        on=tuple(definition.on),
        commands=commands,
        note=note,
    )


def _bare_remediation(kind: RemediationKind[Any]) -> Reference:
    commands, note = _example(kind, {}, lambda k, p: k.commands(p))
    return Reference(
        name=kind.name,
        kind=kind.name,
        description=kind.description,
        source="kind",
        params=_params(kind, {}, {}),
        on=("critical",),
        commands=commands,
        note=note,
    )


def _params(
    kind: Any, defaults: Mapping[str, Any], documented: Mapping[str, Any]
) -> tuple[ParamInfo, ...]:
    infos = []
    for name, field in kind.params_model.model_fields.items():
        default = defaults.get(name, None if field.is_required() else field.default)
        described = documented.get(name)
        infos.append(
            ParamInfo(
                name=name,
                type=_type_name(field.annotation),
                default=default,
                required=field.is_required() and name not in defaults,
                description=described.description if described is not None else "",
            )
        )
    return tuple(infos)


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "")


def _example(kind: Any, defaults: Mapping[str, Any], render: Any) -> tuple[tuple[str, ...], str]:
    """The commands with the default parameters; or why they need the playbook's `with:`."""
    if getattr(kind, "controller_side", False):
        return (), "nothing on the host: measured on the controller"
    try:
        params = kind.params_model.model_validate(dict(defaults))
    except ValidationError as exc:
        missing = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"]
        if missing:
            return (), f"the command depends on: {', '.join(missing)} (give them in `with:`)"
        return (), f"the defaults do not validate: {exc.errors()[0]['msg']}"
    return tuple(render(kind, params)), ""


def _source(entry: Entry[Any]) -> str:
    file = entry.location.file
    return "shipped" if Path(file).resolve().is_relative_to(shipped_root()) else file


def reference_json(reference: Reference) -> dict[str, Any]:
    document = asdict(reference)
    document["defaults"] = dict(reference.defaults or {})
    return document
