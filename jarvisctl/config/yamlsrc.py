"""YAML loading that remembers where every node came from.

Data is loaded into plain dicts, lists and scalars; beside it a `SourceMap` maps the path of every
node (a tuple of keys and indexes, the same shape as a pydantic error's `loc`) to its location, so
a validation error anywhere in a document can be reported at `file:line:column`.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from jarvisctl.config import configfile
from jarvisctl.config.yamlbounds import (
    MAX_DEPTH,
    Positions,
    check_yaml_bounds,
    needs_bounds_check,
    too_deep,
)
from jarvisctl.core.errors import ConfigError, Location, Problem
from jarvisctl.core.frozen import frozen

NodePath = tuple[str | int, ...]
# Kept here for the modules that import it from here; it lives beside the reader.
display_path = configfile.display_path


@frozen
class SourceMap:
    """Locations of the nodes of one document, by path."""

    file: str
    values: dict[NodePath, Location] = field(default_factory=dict)
    keys: dict[NodePath, Location] = field(default_factory=dict)

    def locate(self, path: NodePath, *, key: bool = False) -> Location:
        """The location of `path`, or of its nearest ancestor that has one.

        With `key=True` the location of the mapping key itself is preferred (an unknown key is
        reported where the key is written, not where its value is).
        """
        probe = tuple(path)
        if key and probe in self.keys:
            return self.keys[probe]
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Location(self.file, 1, 1))

    def sub(self, prefix: NodePath) -> SourceMap:
        """The part of this map below `prefix`, with paths relative to it."""
        n = len(prefix)
        below = self._below.get(tuple(prefix), ())
        return SourceMap(
            self.file,
            {p[n:]: self.values[p] for p in below if p in self.values},
            {p[n:]: self.keys[p] for p in below if p in self.keys},
        )

    @cached_property
    def _below(self) -> dict[NodePath, list[NodePath]]:
        """Every node path under each path (itself included), built at the first `sub` (the
        document is complete by then): a play of thousands of checks takes a `sub` per check,
        which must cost the size of that check, not of the whole file."""
        index: dict[NodePath, list[NodePath]] = {}
        for path in dict.fromkeys([*self.values, *self.keys]):
            for n in range(len(path) + 1):
                index.setdefault(path[:n], []).append(path)
        return index


@frozen
class Document:
    """One loaded YAML document and where each of its nodes came from."""

    data: Any
    source: SourceMap

    @property
    def file(self) -> str:
        return self.source.file


def load_yaml_file(path: Path, what: str = "file") -> Document:
    """Read (bounded, see config/configfile.py) and parse one YAML file; a file that cannot be
    read or parsed is a located ConfigError."""
    return load_yaml_text(configfile.read_config_text(path, what), display_path(path))


# PyYAML parses about 130 KiB a second: a larger file keeps libyaml's wording of its mistake.
_REWORD_LIMIT = 128 * 1024


class _SyntaxError(ConfigError):
    """A mistake the YAML parser found (as opposed to a limit the loader enforces)."""


def load_yaml_text(text: str, name: str) -> Document:
    """Parse YAML text; syntax errors, duplicate keys, multiple documents, control characters
    and documents over the limits of jarvisctl.config.yamlbounds are reported at their location."""
    # libyaml's parser, where PyYAML was built with it: it parses the catalogue, playbooks and
    # inventories several times faster than the pure-Python one, which matters at every start.
    fast: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        return _load(text, name, yaml.SafeLoader)
    try:
        return _load(text, name, fast)
    except _SyntaxError:
        if len(text) > _REWORD_LIMIT:
            raise
        # libyaml words its syntax errors less helpfully ("did not find expected ','"); a file
        # with a mistake is parsed again by PyYAML, whose messages (and locations) we report.
        return _load(text, name, yaml.SafeLoader)


def _load(text: str, name: str, parser: type[yaml.SafeLoader]) -> Document:
    positions = Positions(name, text)
    try:
        if needs_bounds_check(text, parser):
            check_yaml_bounds(text, positions, parser)
        return _compose_and_build(text, positions, parser)
    except yaml.reader.ReaderError as exc:
        raise ConfigError(_reader_problem(exc, text, name)) from None
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem):  # libyaml's own limit, deeper than ours
            raise too_deep(positions, exc.problem_mark) from None
        raise _SyntaxError(_syntax_problem(exc, positions)) from None
    except yaml.YAMLError as exc:
        raise ConfigError.at(Location(name), f"invalid YAML: {exc}") from None
    except RecursionError:  # a limit above should come first; never a traceback regardless
        raise ConfigError.at(Location(name), "nested too deeply to load") from None


def _compose_and_build(text: str, positions: Positions, parser: type[yaml.SafeLoader]) -> Document:
    loader = parser(text)
    try:
        node = loader.get_single_node()
        source = SourceMap(positions.name)
        data = _Builder(loader, source, positions).build(node, ()) if node is not None else None
    finally:
        loader.dispose()
    if node is None:
        source.values[()] = Location(positions.name, 1, 1)
    return Document(data, source)


def _reader_problem(exc: yaml.reader.ReaderError, text: str, name: str) -> Problem:
    """PyYAML counts the position in characters, libyaml in bytes: find the character."""
    character = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
    offset = text.find(character)
    if offset < 0:
        return Problem(Location(name), f"YAML cannot hold the character {character!r}")
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    escape = f"\\x{ord(character):02x}" if ord(character) < 0x100 else f"\\u{ord(character):04x}"
    return Problem(
        Location(name, line, column),
        f"control character {escape} is not allowed in YAML",
        "remove it"
        if character == "\x00"
        else f'remove it, or escape it in double quotes: "{escape}"',
    )


def _syntax_problem(exc: yaml.MarkedYAMLError, positions: Positions) -> Problem:
    location = positions.at(exc.problem_mark or exc.context_mark)
    what = exc.problem or "invalid YAML"
    if exc.context:
        what = f"{what} {exc.context}"
    if "expected a single document" in what:
        return Problem(location, "more than one YAML document in the file", "expected exactly one")
    return Problem(location, f"YAML syntax error: {what}")


# int() refuses decimal text over 4,300 digits; hex and binary are not limited, but such a number
# cannot be printed (str() has the same limit) or compared as a threshold.
_MAX_INT_BITS = 14_000
# NUL ends a string for the OS (argv, paths, the environment); a lone surrogate is not Unicode
# text and cannot be encoded to print, store or send it.
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")


def _describe(character: str) -> str:
    if character == "\x00":
        return "a NUL character"
    return f"a lone surrogate \\u{ord(character):04x} (not a Unicode character)"


def _bad_scalar(node: yaml.Node, exc: Exception | str) -> str:
    if "digits" in str(exc):
        return "a number with more than 4300 digits"
    kind = str(node.tag).rpartition(":")[2] or "scalar"
    return f"invalid {kind} value {_preview(str(node.value))}: {exc}"


def _preview(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else f"{text[:limit]}...")


class _Builder:
    """Builds plain Python data from a composed node tree, recording every node's location."""

    def __init__(self, loader: yaml.SafeLoader, source: SourceMap, positions: Positions) -> None:
        self.loader = loader
        self.source = source
        self.positions = positions

    def _location(self, node: yaml.Node) -> Location:
        return self.positions.at(node.start_mark)

    def build(self, node: yaml.Node, path: NodePath) -> Any:
        self.source.values[path] = self._location(node)
        if isinstance(node, yaml.CollectionNode) and len(path) >= MAX_DEPTH:
            raise too_deep(self.positions, node.start_mark)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        """The value of a scalar; one Python cannot hold or the OS cannot take is refused."""
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # int() over 4,300 digits, 2026-13-45
            raise ConfigError.at(self._location(node), _bad_scalar(node, exc)) from None
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:  # 0x with 5,000 f's
            raise ConfigError.at(self._location(node), _bad_scalar(node, "digits"))
        if isinstance(value, str) and (bad := _UNSAFE_TEXT.search(value)):
            raise ConfigError.at(
                self._location(node),
                f"the text holds {_describe(bad.group())}",
                "no command, path or variable can carry it; remove it",
            )
        return value

    def _key(self, node: yaml.Node) -> Any:
        # YAML 1.1 reads plain `on`, `off`, `yes`, `no` as booleans; as a key that is never meant
        # (`on: [critical]`), so a plain boolean-looking key keeps its text.
        plain = isinstance(node, yaml.ScalarNode) and not node.style  # libyaml: '', PyYAML: None
        if plain and node.tag == "tag:yaml.org,2002:bool":
            return str(node.value)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: NodePath) -> dict[Any, Any]:
        explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
        self.loader.flatten_mapping(node)  # resolves `<<` merge keys like PyYAML does
        merged = len(node.value) - explicit  # merged pairs come first and may be overridden
        result: dict[Any, Any] = {}
        explicit_keys: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self._key(key_node)
            if not isinstance(key, Hashable):
                raise yaml.MarkedYAMLError(
                    problem="a mapping key must be a plain value",
                    problem_mark=key_node.start_mark,
                )
            if index >= merged:
                if key in explicit_keys:
                    raise yaml.MarkedYAMLError(
                        problem=f"duplicate key {key!r} (each key may appear once in a mapping)",
                        problem_mark=key_node.start_mark,
                    )
                explicit_keys.add(key)
            child = (*path, key if isinstance(key, int) else str(key))
            self.source.keys[child] = self._location(key_node)
            result[key] = self.build(value_node, child)
        return result
