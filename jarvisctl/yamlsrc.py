"""YAML loading that remembers where every node came from.

Data is loaded into plain dicts, lists and scalars; beside it a `SourceMap` maps the path of every
node (a tuple of keys and indexes, the same shape as a pydantic error's `loc`) to its location, so
a validation error anywhere in a document can be reported at `file:line:column`.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jarvisctl.errors import ConfigError, Location, Problem

NodePath = tuple[str | int, ...]


@dataclass(frozen=True)
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
        return SourceMap(
            self.file,
            {p[n:]: loc for p, loc in self.values.items() if p[:n] == prefix},
            {p[n:]: loc for p, loc in self.keys.items() if p[:n] == prefix},
        )


@dataclass(frozen=True)
class Document:
    """One loaded YAML document and where each of its nodes came from."""

    data: Any
    source: SourceMap

    @property
    def file(self) -> str:
        return self.source.file


def display_path(path: Path) -> str:
    """A path as the operator would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_yaml_file(path: Path) -> Document:
    """Read and parse one YAML file; a missing file or bad syntax is a located ConfigError."""
    name = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.at(Location(name), "file not found") from None
    except IsADirectoryError:
        raise ConfigError.at(Location(name), "is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.at(Location(name), f"cannot read file: {exc}") from None
    return load_yaml_text(text, name)


# libyaml's parser, where PyYAML was built with it: it parses the catalogue, playbooks and
# inventories several times faster than the pure-Python one, which matters at every start.
_FAST_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


def load_yaml_text(text: str, name: str) -> Document:
    """Parse YAML text; syntax errors, duplicate keys and multiple documents are reported."""
    if _FAST_LOADER is None:
        return _load(text, name, yaml.SafeLoader)
    try:
        return _load(text, name, _FAST_LOADER)
    except ConfigError:
        # libyaml words its syntax errors less helpfully ("did not find expected ','"); a file
        # with a mistake is parsed again by PyYAML, whose messages (and locations) we report.
        return _load(text, name, yaml.SafeLoader)


def _load(text: str, name: str, parser: type[yaml.SafeLoader]) -> Document:
    loader = parser(text)
    try:
        node = loader.get_single_node()
        source = SourceMap(name)
        data = _Builder(loader, source).build(node, ()) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_syntax_problem(exc, name)) from None
    except yaml.YAMLError as exc:
        raise ConfigError.at(Location(name), f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        source.values[()] = Location(name, 1, 1)
    return Document(data, source)


def _syntax_problem(exc: yaml.MarkedYAMLError, name: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    location = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
    what = exc.problem or "invalid YAML"
    if exc.context:
        what = f"{what} {exc.context}"
    if "expected a single document" in what:
        return Problem(location, "more than one YAML document in the file", "expected exactly one")
    return Problem(location, f"YAML syntax error: {what}")


def _location(name: str, node: yaml.Node) -> Location:
    return Location(name, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Builds plain Python data from a composed node tree, recording every node's location."""

    def __init__(self, loader: yaml.SafeLoader, source: SourceMap) -> None:
        self.loader = loader
        self.source = source

    def build(self, node: yaml.Node, path: NodePath) -> Any:
        self.source.values[path] = _location(self.source.file, node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _key(self, node: yaml.Node) -> Any:
        # YAML 1.1 reads plain `on`, `off`, `yes`, `no` as booleans; as a key that is never meant
        # (`on: [critical]`), so a plain boolean-looking key keeps its text.
        plain = isinstance(node, yaml.ScalarNode) and not node.style  # libyaml: '', PyYAML: None
        if plain and node.tag == "tag:yaml.org,2002:bool":
            return str(node.value)
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
            self.source.keys[child] = _location(self.source.file, key_node)
            result[key] = self.build(value_node, child)
        return result
