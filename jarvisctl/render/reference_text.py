"""The definitions reference for people."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from jarvisctl.plan.reference import Reference


def _defaults(reference: Reference) -> str:
    if reference.on:
        return "on " + "/".join(reference.on)
    values = reference.defaults or {}
    return ", ".join(f"{k} {v}" for k, v in values.items()) or "-"


def render_list(references: Sequence[Reference]) -> str:
    rows = [
        (r.name, r.kind, r.unit or "-", r.direction or "-", _defaults(r), r.description)
        for r in references
    ]
    header = ("NAME", "KIND", "UNIT", "DIRECTION", "DEFAULTS", "DESCRIPTION")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def render_show(reference: Reference) -> str:
    return "\n".join(_show_lines(reference))


def _show_lines(r: Reference) -> Iterator[str]:
    yield f"{r.name}  (kind {r.kind}; {r.source})"
    yield f"  {r.description}"
    if r.direction:
        worse = "higher is worse" if r.direction == "above" else "lower is worse"
        yield f"  unit: {r.unit or '-'}   direction: {r.direction} ({worse})"
    yield f"  defaults: {_defaults(r)}"
    yield "  parameters:" if r.params else "  parameters: none"
    for p in r.params:
        default = "required" if p.required else f"default {p.default!r}"
        about = f"  {p.description}" if p.description else ""
        yield f"    {p.name}  {p.type}  {default}{about}"
    if r.commands:
        yield "  runs:"
        for command in r.commands:
            yield f"    $ {command}"
    if r.note:
        yield f"  runs: {r.note}"
