"""Limits on what a YAML document may make the loader build, checked before it is built.

A few hundred bytes of anchors and aliases ("billion laughs") expand to billions of nodes, an
alias inside its own anchor makes a cycle, and thousands of nested brackets exhaust the
recursion of a composer. The events of a document are read first (the parsers produce them
iteratively, without recursion) to count the nesting depth and the nodes that aliases would
copy, so that such a document is refused at the node where it crosses a limit, in
milliseconds and with no memory to speak of.
"""

from __future__ import annotations

import bisect
import functools
import re
from typing import Protocol

import yaml

from jarvisctl.core.errors import ConfigError, Location

# Nesting deeper than any configuration needs, far below what the recursive parts of the
# loader (PyYAML's composer, the builder, validation) can take.
MAX_DEPTH = 100
# Nodes that aliases may copy into one document: shared defaults merged into thousands of
# checks stay well under it; building this many nodes takes about a second.
MAX_ALIAS_NODES = 100_000


def check_yaml_bounds(text: str, positions: Positions, loader: type[yaml.SafeLoader]) -> None:
    """Refuse a document that nests deeper than MAX_DEPTH, whose aliases would copy more than
    MAX_ALIAS_NODES nodes, or that has an alias inside its own anchor.

    Syntax errors are raised as PyYAML raises them (yaml.MarkedYAMLError).
    """
    counter = _Counter(positions)
    for event in yaml.parse(text, Loader=loader):
        counter.event(event)


def needs_bounds_check(text: str, loader: type[yaml.SafeLoader]) -> bool:
    """Whether the events must be read before composing.

    Without an `&` there is no anchor, so no alias can expand; and libyaml refuses by itself
    documents nested over 1,000 deep (its composer takes that depth), so that the events of a
    plain document, the common case, are not read twice. The builder checks MAX_DEPTH then.
    """
    return "&" in text or not (loader is getattr(yaml, "CSafeLoader", None) and _libyaml_caps())


@functools.cache
def _libyaml_caps() -> bool:
    """Whether this libyaml refuses deep nesting itself (0.2.6 does; older ones recurse)."""
    depth = 1001
    try:
        yaml.CSafeLoader("[" * depth + "]" * depth).get_single_node()
    except yaml.MarkedYAMLError as exc:
        return "nesting depth" in str(exc.problem)
    return False


class Mark(Protocol):
    """A position in a document, as PyYAML and libyaml report it (counted from 0)."""

    line: int
    column: int
    index: int  # in characters, for both parsers


# YAML 1.1 also ends a line at NEL, LS, PS and a lone CR; editors do not.
_OTHER_BREAKS = re.compile("\r(?!\n)|[\x85\u2028\u2029]")


class Positions:
    """Locations of marks in one file, with lines counted as an editor counts them."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self._newlines: list[int] | None = None
        if _OTHER_BREAKS.search(text):
            self._newlines = [i for i, c in enumerate(text) if c == "\n"]

    def at(self, mark: Mark | None) -> Location:
        if mark is None:
            return Location(self.name)
        if self._newlines is None:
            return Location(self.name, mark.line + 1, mark.column + 1)
        line = bisect.bisect_left(self._newlines, mark.index)  # newlines before the mark
        start = self._newlines[line - 1] + 1 if line else 0
        return Location(self.name, line + 1, mark.index - start + 1)


def too_deep(positions: Positions, mark: Mark | None) -> ConfigError:
    return ConfigError.at(
        positions.at(mark),
        f"nested more than {MAX_DEPTH} levels deep",
        "configuration never needs that many; is the file generated wrongly?",
    )


class _Counter:
    """Counts, per open collection, the nodes it expands to (an alias counts as the nodes of
    its anchor), which gives each anchor its expanded size when it closes."""

    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.open_anchors: list[str | None] = []
        self.sizes: list[int] = [0]  # expanded size of each open collection; [0]: the document
        self.anchor_sizes: dict[str, int] = {}
        self.copied = 0

    def event(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.CollectionStartEvent):
            if len(self.open_anchors) >= MAX_DEPTH:
                raise too_deep(self.positions, event.start_mark)
            self.open_anchors.append(event.anchor)
            self.sizes.append(1)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, size = self.open_anchors.pop(), self.sizes.pop()
            self.close(anchor, size)
        elif isinstance(event, yaml.ScalarEvent):
            self.close(event.anchor, 1)
        elif isinstance(event, yaml.AliasEvent):
            self.alias(event)

    def close(self, anchor: str | None, size: int) -> None:
        if anchor is not None:
            self.anchor_sizes[anchor] = size
        self.sizes[-1] += size

    def alias(self, event: yaml.AliasEvent) -> None:
        where = self.positions.at(event.start_mark)
        if event.anchor in self.open_anchors:
            raise ConfigError.at(
                where,
                f"alias *{event.anchor} is inside its own anchor &{event.anchor}",
                "a recursive structure cannot be configuration",
            )
        size = self.anchor_sizes.get(event.anchor or "", 1)  # undefined: the composer says so
        self.copied += size
        if self.copied > MAX_ALIAS_NODES:
            raise ConfigError.at(
                where,
                f"aliases expand this document by more than {MAX_ALIAS_NODES:,} nodes",
                "an alias bomb? write the values out or share fewer, smaller anchors",
            )
        self.sizes[-1] += size
