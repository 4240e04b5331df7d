"""Ansible's INI inventory: `[group]`, `[group:vars]`, `[group:children]`, inline host variables.

Values are typed as Ansible types them: a value that reads as a Python literal (`80`, `True`,
`[1, 2]`, `'quoted'`) becomes that literal, anything else stays a string (`true`, `yes`, `a b`).
On host lines the line is first split like a shell would, so quotes group words.
"""

from __future__ import annotations

import ast
import io
import re
import shlex
import warnings
from dataclasses import dataclass, field
from typing import Any

from jarvisctl.config.inventory.draft import InventoryDraft, Value
from jarvisctl.config.inventory.hostnames import MAX_HOSTS, HostNameError, expand_host_entry
from jarvisctl.core.errors import Location

SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
SECTION_KINDS = ("hosts", "children", "vars")
COMMENT_MARKERS = ("#", ";")


def parse_ini_value(text: str) -> Any:
    """A value typed the way Ansible's INI plugin types it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    """Tuples and sets become lists, and types variables cannot hold become strings."""
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if value is Ellipsis or isinstance(value, complex):
        return "..." if value is Ellipsis else str(value)
    return value


@dataclass
class _Section:
    """The section being read: its group, and what its lines are (hosts, children or vars; skip:
    after a refused header, its lines are ignored)."""

    group: str = "ungrouped"
    kind: str = "hosts"


@dataclass
class _IniReader:
    """Reads lines in order; child groups listed before their own section wait until it appears."""

    file: str
    draft: InventoryDraft
    section: _Section = field(default_factory=_Section)
    defined: set[str] = field(default_factory=lambda: {"all", "ungrouped"})
    pending: dict[str, list[tuple[str, Location]]] = field(default_factory=dict)
    vars_only: dict[str, Location] = field(default_factory=dict)

    def line(self, number: int, raw: str) -> None:
        text = raw.strip()
        if not text or text[0] in COMMENT_MARKERS:
            return
        column = len(raw) - len(raw.lstrip()) + 1
        where = Location(self.file, number, column)
        if SECTION.match(text) or (text.startswith("[") and text.endswith("]")):
            self.header(text, where)
        elif self.section.kind == "hosts":
            self.host_line(raw, where)
        elif self.section.kind == "vars":
            self.var_line(text, where)
        else:
            self.child_line(text, where)

    def header(self, text: str, where: Location) -> None:
        match = SECTION.match(text)
        if match is None:
            self.draft.problems.add(
                where,
                f"invalid section header {text!r}",
                "valid: [group], [group:vars], [group:children], with no spaces inside",
            )
            self.section = _Section("", "skip")
            return
        group, kind = match.group(1), match.group(2) or "hosts"
        if kind not in SECTION_KINDS:
            kind_at = Location(self.file, where.line, where.column + match.start(2))
            self.draft.problems.add(
                kind_at, f"unknown section type ':{kind}'", "valid: :vars, :children"
            )
            self.section = _Section("", "skip")
            return
        self.draft.add_group(group, where)
        self.section = _Section(group, kind)
        if kind == "vars":
            self.vars_only.setdefault(group, where)
        else:
            self.define(group)

    def define(self, group: str) -> None:
        self.defined.add(group)
        for parent, where in self.pending.pop(group, []):
            self.draft.add_child(parent, group, where)

    def host_line(self, raw: str, where: Location) -> None:
        tokens = _tokens(raw)
        if isinstance(tokens, str):
            self.draft.problems.add(where, f"cannot split host line: {tokens}")
            return
        (entry, _), assignments = tokens[0], tokens[1:]
        if entry == "---":
            self.draft.problems.add(where, "'---' starts a YAML document, not an INI host line")
            return
        try:
            names, port = expand_host_entry(entry, MAX_HOSTS - len(self.draft.hosts))
        except HostNameError as exc:
            self.draft.problems.add(where, str(exc))
            return
        variables = self.host_vars(assignments, where)
        for name in names:
            self.draft.add_host(name, self.section.group, where, port)
            for key, value in variables.items():
                self.draft.set_host_var(name, key, value)

    def host_vars(self, assignments: list[tuple[str, int]], where: Location) -> dict[str, Value]:
        variables: dict[str, Value] = {}
        for token, offset in assignments:
            at = Location(self.file, where.line, offset + 1)
            key, equals, value = token.partition("=")
            if not equals or not key:
                self.draft.problems.add(
                    at, f"expected key=value after the host name, got {token!r}"
                )
                continue
            variables[key] = Value(parse_ini_value(value), at, str(at))
        return variables

    def var_line(self, text: str, where: Location) -> None:
        key, equals, value = (part.strip() for part in text.partition("="))
        if not equals or not key:
            self.draft.problems.add(
                where, f"expected key=value in [{self.section.group}:vars], got {text!r}"
            )
            return
        origin = f"{where} (group {self.section.group})"
        self.draft.set_group_var(
            self.section.group, key, Value(parse_ini_value(value), where, origin)
        )

    def child_line(self, text: str, where: Location) -> None:
        if self.section.kind == "skip":
            return
        match = GROUP_NAME.match(text)
        if match is None:
            self.draft.problems.add(
                where, f"expected a group name in [{self.section.group}:children], got {text!r}"
            )
            return
        child = match.group(1)
        if child in self.defined:
            self.draft.add_child(self.section.group, child, where)
        else:
            self.pending.setdefault(child, []).append((self.section.group, where))

    def finish(self) -> None:
        """Report groups that are used but never declared with [name] or [name:children]."""
        for child, uses in self.pending.items():
            parent, where = uses[0]
            self.draft.problems.add(
                where,
                f"[{parent}:children] lists '{child}', which is not defined",
                f"add a [{child}] or [{child}:children] section",
            )
        for group, where in self.vars_only.items():
            if group not in self.defined and group not in self.pending:
                self.draft.problems.add(
                    where,
                    f"[{group}:vars] is for a group that is not defined",
                    f"add a [{group}] or [{group}:children] section",
                )


def _tokens(raw: str) -> list[tuple[str, int]] | str:
    """Shell-like words with the 0-based column where each starts, or the reason it failed."""
    stream = io.StringIO(raw)
    lexer = shlex.shlex(stream, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens: list[tuple[str, int]] = []
    try:
        while True:
            start = stream.tell()
            token = lexer.get_token()
            if token is None or token == lexer.eof:
                break
            while start < len(raw) and raw[start].isspace():
                start += 1
            tokens.append((token, start))
    except ValueError as exc:
        return str(exc)
    return tokens or "empty line"


def read_ini_inventory(text: str, file: str, draft: InventoryDraft) -> None:
    """Declare into `draft` every group, host and variable of an INI inventory."""
    # groups of the sources read before count as defined, as in ansible-core's INI plugin
    reader = _IniReader(file, draft, defined={"all", "ungrouped", *draft.groups})
    # lines end at \n only, as editors count them (str.splitlines also ends them at \x85,
    # \u2028, \x0c ..., and every later line number would be off)
    for number, raw in enumerate(text.split("\n"), start=1):
        reader.line(number, raw.removesuffix("\r"))
    reader.finish()
