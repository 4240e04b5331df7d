"""`secret_vars`: the variables whose values are secret, so every output redacts them.

A play lists them (`secret_vars: [db_password]`), and so can the inventory, as a variable of
that name on a group or host (like every inventory variable, the most specific one wins whole).
A name that is not a variable of the host is an error: a misspelt name would leak silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jarvisctl.config.inventory import Host
from jarvisctl.config.models.playbook import Play
from jarvisctl.config.templating.templates import TemplateError
from jarvisctl.config.yamlsrc import SourceMap
from jarvisctl.core.errors import ConfigError, Location, known_list
from jarvisctl.core.secrets import SecretValues
from jarvisctl.plan.resolve import HostProblems

SECRET_VARS = "secret_vars"


def mark_secret_vars(
    host: Host,
    play: Play,
    index: int,
    variables: Mapping[str, Any],
    source: SourceMap,
    problems: HostProblems,
    secrets: SecretValues,
) -> None:
    """Add the values of the host's secret variables to `secrets`; report unknown names."""
    inventory_names = _inventory_names(host, problems)
    play_names = [
        (n, source.locate((index, SECRET_VARS, i))) for i, n in enumerate(play.secret_vars)
    ]
    where = host.var_locations.get(SECRET_VARS)
    for name, location in [*play_names, *((n, where) for n in inventory_names)]:
        if name in variables:
            try:
                secrets.add(variables[name])  # an inventory value is rendered when read
            except TemplateError as exc:
                problems.add(location, str(exc), host.name)
        else:
            known = known_list((k for k in variables if k != SECRET_VARS), near=name)
            message = f"{SECRET_VARS}: {name!r} is not a variable of this host ({known})"
            problems.add(location, message, host.name)


def mark_inventory_secrets(hosts: Iterable[Host], secrets: SecretValues) -> None:
    """Add the values of the variables the inventory marks secret on each host (for the
    `inventory` commands, which show variables without a play); a malformed `secret_vars`
    is a ConfigError, since what it meant to hide cannot be known."""
    problems = HostProblems()
    for host in hosts:
        for name in _inventory_names(host, problems):
            if name in host.vars:
                secrets.add(host.vars[name])
    found = problems.problems()
    if found:
        raise ConfigError(found)


def _inventory_names(host: Host, problems: HostProblems) -> Sequence[str]:
    raw = host.vars.get(SECRET_VARS)
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        where: Location | None = host.var_locations.get(SECRET_VARS)
        message = f"variable {SECRET_VARS!r} must be a list of variable names, not {raw!r}"
        problems.add(where, message, host.name)
        return ()
    return raw
