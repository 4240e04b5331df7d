"""Ansible's YAML inventory: groups with `hosts`, `children` and `vars`, nested to any depth."""

from __future__ import annotations

import re
from typing import Any

from jarvisctl.config.inventory.draft import InventoryDraft, Value
from jarvisctl.config.inventory.hostnames import MAX_HOSTS, HostNameError, expand_host_entry
from jarvisctl.config.yamlsrc import Document, NodePath
from jarvisctl.core.errors import short_repr

GROUP_KEYS = ("hosts", "children", "vars")
# what host patterns read as separators, prefixes, globs or subscripts: a group named with one
# could never be selected by its name (`hosts: web servers` means the groups web and servers)
_PATTERN_SYNTAX = re.compile(r"[\s:,\[\]*?]|^[!&~@]")
_HOST_SEPARATOR = re.compile(r"[\s,]")
GROUP_NAME_HINT = "valid: letters, digits, '_', '-' and '.', e.g. web_servers"


def group_name_problem(name: Any) -> str:
    """What is wrong with a group name, or "" if nothing is."""
    if not isinstance(name, str) or not name:
        return f"group name {name!r} must be a non-empty string"
    syntax = _PATTERN_SYNTAX.search(name)
    if syntax is None:
        return ""
    where = "start with" if syntax.start() == 0 and name[0] in "!&~@" else "contain"
    return (
        f"group name {name!r} cannot {where} {syntax[0]!r}, which host patterns read as "
        f"syntax ({GROUP_NAME_HINT})"
    )


def host_name_problem(name: Any) -> str:
    """What is wrong with a host entry's name, or "" if nothing is."""
    if not isinstance(name, str):
        return f"host name {name!r} must be a string (quote it)"
    if not name.strip():
        return f"host name {name!r} is empty"
    separator = _HOST_SEPARATOR.search(name)
    if separator is None:
        return ""
    # `web 1` or `a,b` could never be selected by name: patterns split there
    return (
        f"host name {name!r} cannot contain {separator[0]!r}, which host patterns read as a "
        "separator (one host per key, e.g. 'web1:', or a range such as 'web[1:3]:')"
    )


def read_yaml_inventory(document: Document, draft: InventoryDraft) -> None:
    """Declare into `draft` every group, host and variable of a YAML inventory document."""
    data = document.data
    where = document.source.locate(())
    if data is None or data == {}:
        draft.problems.add(where, "the inventory is empty", "expected groups, e.g. 'all:'")
    elif not isinstance(data, dict):
        draft.problems.add(
            where,
            f"an inventory must be a mapping of group names, got {type(data).__name__}",
            "e.g. 'all:' with 'hosts:' below it",
        )
    elif "plugin" in data:
        draft.problems.add(
            document.source.locate(("plugin",), key=True),
            "inventory plugin configurations are not supported",
            "write hosts and groups in Ansible's YAML or INI inventory format",
        )
    else:
        reader = _YamlReader(document, draft)
        for name, body in data.items():
            reader.group(name, body, (_key(name),))


def _key(key: Any) -> str | int:
    return key if isinstance(key, int) else str(key)


class _YamlReader:
    """Walks one document in order, so hosts and groups keep the order the file gives them."""

    def __init__(self, document: Document, draft: InventoryDraft) -> None:
        self.source = document.source
        self.draft = draft

    def problem(self, path: NodePath, message: str, hint: str = "", *, key: bool = False) -> None:
        self.draft.problems.add(self.source.locate(path, key=key), message, hint)

    def group(self, name: Any, body: Any, path: NodePath) -> str | None:
        problem = group_name_problem(name)
        if problem or not isinstance(name, str):
            self.problem(path, problem, key=True)
            return None
        if body is not None and not isinstance(body, dict):
            self.problem(
                path,
                f"group '{name}' must be a mapping, got {type(body).__name__}",
                f"valid keys: {', '.join(GROUP_KEYS)}",
            )
            return None
        self.draft.add_group(name, self.source.locate(path, key=True))
        for section, content in (body or {}).items():
            self.section(name, section, content, (*path, _key(section)))
        return name

    def section(self, group: str, section: Any, content: Any, path: NodePath) -> None:
        if section not in GROUP_KEYS:
            self.problem(
                path,
                f"{section!r} is not a valid key for group '{group}'",
                f"valid: {', '.join(GROUP_KEYS)}",
                key=True,
            )
            return
        if content is None:
            return
        if not isinstance(content, dict):
            # `hosts: web1, web2` would be one host named "web1, web2": each entry is a key
            self.problem(
                path,
                f"'{section}' of group '{group}' must be a mapping, "
                f"got {type(content).__name__} {short_repr(content)}",
                f"write each entry as a key ending in ':', below '{section}:', e.g. "
                f"{_example(section)}",
            )
            return
        for item, value in content.items():
            item_path = (*path, _key(item))
            if section == "vars":
                self.group_var(group, item, value, item_path)
            elif section == "children":
                child = self.group(item, value, item_path)
                if child is not None:
                    self.draft.add_child(group, child, self.source.locate(item_path, key=True))
            else:
                self.hosts(group, item, value, item_path)

    def group_var(self, group: str, name: Any, value: Any, path: NodePath) -> None:
        location = self.source.locate(path, key=True)
        if not isinstance(name, str):
            self.problem(path, f"variable name {name!r} must be a string", "quote it", key=True)
            return
        self.draft.set_group_var(group, name, Value(value, location, f"{location} (group {group})"))

    def hosts(self, group: str, entry: Any, host_vars: Any, path: NodePath) -> None:
        location = self.source.locate(path, key=True)
        problem = host_name_problem(entry)
        if problem:
            self.problem(path, problem, key=True)
            return
        try:
            names, port = expand_host_entry(entry, MAX_HOSTS - len(self.draft.hosts))
        except HostNameError as exc:
            self.problem(path, str(exc), key=True)
            return
        if host_vars is not None and not isinstance(host_vars, dict):
            self.problem(
                path,
                f"the variables of host {entry!r} must be a mapping, "
                f"got {type(host_vars).__name__}",
                "e.g. 'ansible_host: 192.0.2.10' indented below the host",
            )
            host_vars = None
        for name in names:
            self.draft.add_host(name, group, location, port)
            for var, value in (host_vars or {}).items():
                self.host_var(name, var, value, (*path, _key(var)))

    def host_var(self, host: str, name: Any, value: Any, path: NodePath) -> None:
        location = self.source.locate(path, key=True)
        if not isinstance(name, str):
            self.problem(path, f"variable name {name!r} must be a string", "quote it", key=True)
            return
        self.draft.set_host_var(host, name, Value(value, location, str(location)))


def _example(section: str) -> str:
    return {"hosts": "'web1:'", "children": "'web:'"}.get(section, "'ntp_server: 10.0.0.1'")
