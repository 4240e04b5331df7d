"""Executable inventory scripts, run as ansible-core's `script` inventory plugin runs them.

An executable file is run with `--list`; its standard output is a JSON object of groups (each
`{hosts: [...], vars: {...}, children: [...]}`, or a bare list of hosts) and, in `_meta.hostvars`,
the variables of each host. Without `_meta`, the script is run once more per host with
`--host HOST` for that host's variables. Unlike ansible-core, each run is bounded: a time
limit, a cap on what is read, and any failure (cannot start, non-zero exit, not JSON, a value
of the wrong shape) is a located error naming the script, with the tail of its standard error.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any, NoReturn

from jarvisctl.config.configfile import display_path
from jarvisctl.config.inventory.draft import InventoryDraft, Value
from jarvisctl.config.inventory.hostnames import MAX_HOSTS
from jarvisctl.config.inventory.script_run import ScriptRun, run_script
from jarvisctl.config.inventory.yaml_format import group_name_problem, host_name_problem
from jarvisctl.core.errors import ConfigError, Location, short_repr
from jarvisctl.core.frozen import frozen

META = "_meta"
GROUP_KEYS = ("hosts", "vars", "children")


def is_inventory_script(path: Path) -> bool:
    """Whether Ansible would run `path` as an inventory script: a regular file the user may
    execute (ansible-core's script plugin asks for nothing more)."""
    try:
        info = os.stat(path)
    except OSError:
        return False  # the file reader says what is wrong with it
    return stat.S_ISREG(info.st_mode) and os.access(path, os.X_OK)


def read_inventory_script(path: Path, draft: InventoryDraft) -> bool:
    """Declare into `draft` what `path --list` prints (and `path --host H` when `_meta.hostvars`
    is absent). False if the file is no program after all (not a script with `#!`, nor a binary:
    an inventory file with the executable bit), for the caller to read it as text."""
    script = _Script(path, display_path(path))
    listed = script.run("--list")
    if listed is None:
        return False
    data = script.json(listed, "--list")
    if not isinstance(data, dict):
        script.fail("--list", f"prints a JSON {_kind(data)}, not an object of groups")
    hostvars = _meta_hostvars(script, data)
    reader = _ScriptReader(script, draft)
    for group, body in data.items():
        if group != META:
            reader.group(group, body)
    for host in reader.hosts:
        if hostvars is None:
            variables = script.host_vars(host)
        else:
            variables = hostvars.get(host, {})
            if not isinstance(variables, dict):
                at = f"_meta.hostvars.{host}"
                script.fail("--list", f"{at} is a {_kind(variables)}, not an object of variables")
        reader.host_vars(host, variables, "--list" if hostvars is not None else f"--host {host}")
    return True


@frozen
class _Script:
    """An inventory script, run with `--list` or `--host HOST`; its errors name it as `name`."""

    path: Path
    name: str  # as shown in messages

    def where(self, option: str) -> Location:
        return Location(f"{self.name} {option}")

    def fail(self, option: str, message: str, stderr: str = "") -> NoReturn:
        tail = f"; its standard error ends: {stderr}" if stderr else ""
        raise ConfigError.at(
            self.where(option),
            f"inventory script {message}{tail}",
            "an inventory script prints a JSON object of groups, with _meta.hostvars",
        )

    def run(self, *options: str) -> ScriptRun | None:
        shown = " ".join(options)
        try:
            result = run_script(self.path, options)
        except OSError as exc:
            if exc.errno == errno.ENOEXEC:
                return None
            self.fail(shown, f"cannot be run: {exc.strerror or exc}")
        if result.problem:
            self.fail(shown, result.problem, result.stderr)
        if result.returncode != 0:
            self.fail(shown, f"exited with status {result.returncode}", result.stderr)
        return result

    def json(self, result: ScriptRun, option: str) -> Any:
        try:
            text = result.stdout.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.fail(option, f"prints bytes that are not UTF-8 (at byte {exc.start})")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError.at(
                Location(f"{self.name} {option}", exc.lineno, exc.colno),
                f"inventory script output is not JSON: {exc.msg}",
                "an inventory script prints a JSON object of groups, with _meta.hostvars",
            ) from None
        except RecursionError:
            self.fail(option, "prints JSON nested too deep")

    def host_vars(self, host: str) -> dict[str, Any]:
        option = f"--host {host}"
        result = self.run("--host", host)
        if result is None or not result.stdout.strip():
            return {}
        data = self.json(result, option)
        if not isinstance(data, dict):
            self.fail(option, f"prints a JSON {_kind(data)}, not an object of variables")
        return data


def _meta_hostvars(script: _Script, data: dict[str, Any]) -> dict[str, Any] | None:
    if META not in data:
        return None
    meta = data[META]
    if not isinstance(meta, dict) or not isinstance(meta.get("hostvars"), dict):
        script.fail("--list", "prints _meta without an object of hostvars in it")
    return meta["hostvars"]  # type: ignore[no-any-return]


class _ScriptReader:
    """Declares groups, hosts and variables in the order the script prints them."""

    def __init__(self, script: _Script, draft: InventoryDraft) -> None:
        self.script = script
        self.draft = draft
        self.where = script.where("--list")
        self.hosts: dict[str, None] = {}

    def group(self, name: str, body: Any) -> None:
        problem = group_name_problem(name)
        if problem:
            self.draft.problems.add(self.where, problem)
            return
        self.draft.add_group(name, self.where)
        if isinstance(body, list):
            body = {"hosts": body}
        elif not isinstance(body, dict):
            self.shape(name, "", body, "an object or a list of hosts")
            return
        elif not any(key in body for key in GROUP_KEYS):
            body = {"hosts": [name], "vars": body}  # ansible-core's reading of a bare mapping
        self.members(name, body.get("hosts", []))
        self.variables(name, body.get("vars", {}))
        self.children(name, body.get("children", []))

    def shape(self, group: str, key: str, value: Any, valid: str) -> None:
        at = f"{group}.{key}" if key else group
        message = f"'{at}' is a {_kind(value)} {short_repr(value)}, not {valid}"
        self.draft.problems.add(self.where, f"inventory script output: {message}")

    def members(self, group: str, hosts: Any) -> None:
        if not isinstance(hosts, list):
            self.shape(group, "hosts", hosts, "a list of host names")
            return
        for host in hosts:
            problem = host_name_problem(host)
            if host not in self.draft.hosts and len(self.draft.hosts) >= MAX_HOSTS:
                problem = f"more than {MAX_HOSTS:,} hosts: the most an inventory holds"
            if problem:
                self.draft.problems.add(self.where, problem)
                continue
            self.draft.add_host(host, group, self.where)
            self.hosts[host] = None

    def variables(self, group: str, values: Any) -> None:
        if not isinstance(values, dict):
            self.shape(group, "vars", values, "an object of variables")
            return
        origin = f"{self.where} (group {group})"
        for key, value in values.items():
            self.draft.set_group_var(group, key, Value(value, self.where, origin))

    def children(self, group: str, children: Any) -> None:
        if not isinstance(children, list):
            self.shape(group, "children", children, "a list of group names")
            return
        for child in children:
            problem = group_name_problem(child)
            if problem:
                self.draft.problems.add(self.where, problem)
                continue
            self.draft.add_group(child, self.where)
            self.draft.add_child(group, child, self.where)

    def host_vars(self, host: str, values: dict[str, Any], option: str) -> None:
        where = self.script.where(option)
        for key, value in values.items():
            self.draft.set_host_var(host, key, Value(value, where, str(where)))


def _kind(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
