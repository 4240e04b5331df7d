"""A host's variables as its templates see them, rendered as Ansible renders them: lazily.

An inventory value may be a template that refers to other variables (`app_dir: "{{ base_dir
}}/app"`). Like Ansible, jarvisctl keeps it as written and renders it when a template reads it,
with all of the host's variables (its inventory variables in Ansible's precedence, the magic
names, the play's vars), so the value a host sees is the one its own variables make. A value
no template reads is never rendered: a broken one that nothing uses is no error, as in Ansible.
A value that refers back to itself, directly or through others, or that reads an undefined
variable, is an error naming the variable and where it was set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jarvisctl.config.inventory.hosts import Host
from jarvisctl.config.templating.cache import is_template
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.core.errors import Location, Problem

# How many variables may be read through one another while one is rendered: a chain this deep
# is a mistake, and Python's own stack ends not far beyond.
MAX_NESTING = 40


class VariableError(TemplateError):
    """A variable whose value cannot be rendered; the message names it and where it was set.
    It passes unchanged through the templates that read the variable."""


class HostVariables(Mapping[str, Any]):
    """One host's variables for one play: inventory values rendered when first read (then
    kept), and final values the planner sets (magic names, the play's rendered vars)."""

    def __init__(
        self,
        host: str,
        values: Mapping[str, Any],
        templates: Templates,
        locations: Mapping[str, Location],
    ) -> None:
        self._host = host
        self._written = dict(values)  # as the inventory writes them
        self._final: dict[str, Any] = {}
        self._templates = templates
        self._locations = locations
        self._reading: list[str] = []  # the variables being rendered, outermost first

    def __setitem__(self, name: str, value: Any) -> None:
        """Set a final value: it is not rendered again."""
        self._final[name] = value

    def __getitem__(self, name: str) -> Any:
        if name in self._final:
            return self._final[name]
        written = self._written[name]  # KeyError: undefined, as the template will say
        value = self._render(name, written) if _has_template(written) else written
        self._final[name] = value
        return value

    def __contains__(self, name: object) -> bool:  # without rendering anything
        return name in self._final or name in self._written

    def __iter__(self) -> Iterator[str]:
        yield from self._final
        yield from (name for name in self._written if name not in self._final)

    def __len__(self) -> int:
        return len(self._final.keys() | self._written.keys())

    def _render(self, name: str, written: Any) -> Any:
        if name in self._reading:
            chain = " -> ".join([*self._reading[self._reading.index(name) :], name])
            raise self._error(name, f"refers to itself ({chain})")
        if len(self._reading) >= MAX_NESTING:
            chain = " -> ".join([*self._reading, name])
            raise self._error(name, f"is read through more than {MAX_NESTING} variables ({chain})")
        self._reading.append(name)
        try:
            return self._value(name, written)
        finally:
            self._reading.pop()

    def _value(self, name: str, written: Any) -> Any:
        if isinstance(written, list):
            return [self._value(name, item) for item in written]
        if isinstance(written, dict):
            return {key: self._value(name, item) for key, item in written.items()}
        if not isinstance(written, str) or not is_template(written):
            return written
        try:
            return self._templates.render_value(written, self)
        except VariableError:
            raise  # a variable it reads, named where that one was set
        except TemplateError as exc:
            # the template's text is not quoted (its location is given): a secret written
            # inline in it would otherwise be shown before it could be known to be one
            raise self._error(name, str(exc).removeprefix(f"template {written!r}: ")) from None

    def _error(self, name: str, what: str) -> VariableError:
        where = self._locations.get(name)
        at = f" ({where})" if where is not None else ""
        return VariableError(f"variable '{name}'{at}: {what}")


def connection_values(
    host: Host, names: Iterable[str], templates: Templates
) -> tuple[dict[str, Any], list[Problem]]:
    """The host's connection variables among `names`, rendered with its inventory variables
    and the magic names a host's own variables may use (`inventory_hostname`, `group_names`):
    the same in every play, since one connection serves them all."""
    variables = HostVariables(host.name, host.vars, templates, host.var_locations)
    variables["inventory_hostname"] = host.name
    variables["group_names"] = sorted(g for g in host.groups if g not in ("all", "ungrouped"))
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for name in names:
        if name in host.vars:
            try:
                values[name] = variables[name]
            except TemplateError as exc:
                where = host.var_locations.get(name)
                problems.append(Problem(where, f"host '{host.name}': {exc}"))
    return values, problems


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, list):
        return any(_has_template(item) for item in value)
    if isinstance(value, dict):
        return any(_has_template(item) for item in value.values())
    return False
