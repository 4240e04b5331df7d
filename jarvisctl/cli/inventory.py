"""`jarvisctl inventory`: list hosts, show a host's variables and origins, draw the groups."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from jarvisctl.app.inventory import open_inventory as app_inventory
from jarvisctl.cli.common import PathArg, output_secrets, report_errors
from jarvisctl.config.connection_settings import ConnectionSettings
from jarvisctl.config.inventory import Host, Inventory
from jarvisctl.config.project import load_project
from jarvisctl.config.templating.templates import Templates
from jarvisctl.core.errors import ConfigError, PatternError, ProblemCollector, known_list

P = ParamSpec("P")
R = TypeVar("R")


def inventory_options(function: Callable[P, R]) -> Callable[P, R]:
    """`-i` (repeatable) and `-c`, as `plan` and `run` take them."""
    function = click.option(
        "-c", "--config", type=PathArg, help="Project configuration (default: jarvisctl.yml)."
    )(function)
    return click.option(
        "-i",
        "--inventory",
        "inventory_paths",
        type=PathArg,
        multiple=True,
        help="Inventory file, directory or script; several are merged in order. Default: "
        "the project's inventory (jarvisctl.yml), else the local machine.",
    )(function)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def open_inventory(paths: Sequence[Path], config: Path | None) -> tuple[Inventory, Templates]:
    """The inventory `plan` and `run` would use (every -i, else the project's, else localhost)
    and the templates that render its connection variables as `plan` does; the values of
    variables it marks secret are redacted from the command's output."""
    return app_inventory(load_project(config), paths, output_secrets())


@click.group("inventory")
def inventory() -> None:
    """Look at an inventory: its hosts, their variables, its groups."""


@inventory.command("list")
@click.argument("pattern", default="all")
@inventory_options
@json_option
@report_errors
def list_hosts(
    pattern: str, inventory_paths: tuple[Path, ...], config: Path | None, as_json: bool
) -> None:
    """List the hosts PATTERN selects (Ansible syntax, default: all)."""
    loaded, templates = open_inventory(inventory_paths, config)
    hosts = loaded.select(pattern)
    settings = _all_settings(loaded, hosts, templates)
    if as_json:
        rows = [_host_summary(host, settings[host.name]) for host in hosts]
        body = {"inventory": loaded.source, "pattern": pattern, "hosts": rows}
        click.echo(json.dumps(body, indent=2, default=str))
        return
    table: list[tuple[str, ...]] = [("HOST", "ADDRESS", "PORT", "USER", "CONNECTION", "GROUPS")]
    redact = output_secrets().redactor().value  # before measuring, as in `show`
    table += [redact(_host_row(host, settings[host.name])) for host in hosts]
    _echo_table(table)
    noun = "host" if len(hosts) == 1 else "hosts"
    click.echo(f"{len(hosts)} {noun} match '{pattern}' in {loaded.source}")


@inventory.command("show")
@click.argument("host")
@inventory_options
@json_option
@report_errors
def show_host(
    host: str, inventory_paths: tuple[Path, ...], config: Path | None, as_json: bool
) -> None:
    """Show HOST's merged variables, each with where its value came from."""
    loaded, templates = open_inventory(inventory_paths, config)
    found = _find_host(loaded, host)
    settings = loaded.settings(found.name, templates)
    if as_json:
        click.echo(json.dumps(_host_detail(found, settings), indent=2, default=str))
        return
    click.echo(f"host: {found.name}" + (f"  ({found.location})" if found.location else ""))
    click.echo(f"groups: {', '.join(found.groups)}")
    click.echo(f"connection: {_describe(settings)}")
    click.echo("variables:" if found.vars else "variables: none")
    # redacted before the columns are measured: padding must not tell a secret's length
    redact = output_secrets().redactor().value
    values = {
        name: json.dumps(redact(found.vars[name]), default=str) for name in sorted(found.vars)
    }
    name_width = max(map(len, values), default=0)
    value_width = min(max(map(len, values.values()), default=0), 40)
    for name, value in values.items():
        click.echo(f"  {name:<{name_width}} = {value:<{value_width}}  # {found.origins[name]}")


@inventory.command("graph")
@click.argument("group", default="all")
@inventory_options
@report_errors
def graph(group: str, inventory_paths: tuple[Path, ...], config: Path | None) -> None:
    """Draw GROUP (default: all) as a tree of groups and hosts, like ansible-inventory --graph."""
    loaded, _ = open_inventory(inventory_paths, config)
    if group not in loaded.groups:
        raise PatternError(
            f"no group named '{group}' in {loaded.source} ({known_list(loaded.groups)})"
        )
    for line in graph_lines(loaded, group):
        click.echo(line)


def graph_lines(loaded: Inventory, name: str, depth: int = 0) -> list[str]:
    """The tree below group `name`: child groups first, then the group's own hosts."""
    lines = [_indent(f"@{name}:", depth)]
    group = loaded.groups[name]
    for child in group.children:
        lines.extend(graph_lines(loaded, child, depth + 1))
    if name != "all":  # like Ansible: every host of 'all' is shown under a child group
        lines.extend(_indent(host, depth + 1) for host in group.hosts)
    return lines


def _indent(text: str, depth: int) -> str:
    return f"{'  |' * depth}--{text}" if depth else text


def _find_host(loaded: Inventory, name: str) -> Host:
    if name in loaded.hosts or name in loaded.implicit:
        return loaded.host(name)
    close = difflib.get_close_matches(name, list(loaded.hosts), n=4, cutoff=0.6)
    hint = f"did you mean: {', '.join(close)}" if close else known_list(loaded.hosts)
    raise PatternError(f"no host named '{name}' in {loaded.source} ({hint})")


def _all_settings(
    loaded: Inventory, hosts: tuple[Host, ...], templates: Templates
) -> dict[str, ConnectionSettings]:
    """Settings of every host; the mistakes of all hosts are reported together."""
    problems = ProblemCollector()
    settings: dict[str, ConnectionSettings] = {}
    for host in hosts:
        try:
            settings[host.name] = loaded.settings(host.name, templates)
        except ConfigError as exc:
            problems.absorb(exc)
    problems.raise_if_any()
    return settings


def _connection_fields(settings: ConnectionSettings) -> dict[str, Any]:
    fields = dataclasses.asdict(settings)
    del fields["host"]
    return fields


def _host_summary(host: Host, settings: ConnectionSettings) -> dict[str, Any]:
    return {"name": host.name, "groups": list(host.groups), **_connection_fields(settings)}


def _host_detail(host: Host, settings: ConnectionSettings) -> dict[str, Any]:
    return {
        "name": host.name,
        "location": str(host.location) if host.location else None,
        "groups": list(host.groups),
        "connection": _connection_fields(settings),
        "vars": {
            name: {"value": host.vars[name], "origin": host.origins[name]}
            for name in sorted(host.vars)
        },
    }


def _host_row(host: Host, settings: ConnectionSettings) -> tuple[str, ...]:
    groups = sorted(g for g in host.groups if g not in ("all", "ungrouped"))
    return (
        host.name,
        settings.address,
        str(settings.port) if settings.connection == "ssh" and settings.port else "-",
        settings.user or "-",
        settings.connection,
        ", ".join(groups) or "-",
    )


def _describe(settings: ConnectionSettings) -> str:
    if settings.connection == "local":
        text = "local (no SSH)"
    else:
        user = f"{settings.user}@" if settings.user else ""
        text = f"ssh {user}{settings.where}, host keys {settings.host_key_policy}"
    if settings.become:
        text += f", become {settings.become_user or 'root'}"
    return text


def _echo_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
