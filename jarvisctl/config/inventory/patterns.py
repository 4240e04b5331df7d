"""Ansible host patterns: `web:db`, `web,db`, `web:&prod`, `all:!db-01`, globs, `~regex`, `g[0:2]`.

The evaluation follows ansible-core's `InventoryManager`: plain terms first, then `&` terms, then
`!` terms; a term matching groups yields their hosts (children included, breadth first), and a
glob or regex also matches host names. Where ansible-core walks a level of sibling groups in
hash order, this walks them in declaration order, so the result is stable.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from jarvisctl.core.errors import PatternError, known_list

SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
GLOB_CHARS = (".", "?", "*", "[")


class GroupLike(Protocol):
    @property
    def children(self) -> tuple[str, ...]: ...

    @property
    def hosts(self) -> tuple[str, ...]: ...


SEPARATORS = "terms are separated by ':' or ',', e.g. web:db or 'web:&prod'"
SUBSCRIPTS = "a subscript is written web[0], web[-1] or web[1:3]"


def split_pattern(pattern: str) -> list[str]:
    """Split a pattern into terms: on commas if it has any, otherwise on colons outside `[]`.

    Where ansible-core drops what it cannot read (`web[` selects `web`, `~[` every host, `db:`
    just db), a stray bracket or an empty term is a PatternError here.
    """
    if "," in pattern:
        terms = [term.strip() for term in pattern.split(",")]
    elif _is_ipv6(pattern.strip()):
        return [pattern.strip()]  # an IPv6 address names one host; its colons are not separators
    else:
        terms = [term.strip() for term in TERM.findall(pattern)]
        _check_leftovers(pattern)
    if terms[-1:] == [""] and "," in pattern:
        terms.pop()  # a trailing comma is how a pattern with colons (an IPv6 glob) says "one term"
    if len(terms) > 1 and not all(terms):
        raise PatternError(f"host pattern '{pattern}' has an empty term ({SEPARATORS})")
    for term in terms:
        if not term.lstrip("&!").startswith("~"):  # a regex's brackets are its own business
            _check_brackets(term, pattern)
    return [term for term in terms if term]


def _check_leftovers(pattern: str) -> None:
    """What TERM does not take must be separators: one ':' between terms (or spaces, as
    ansible-core reads them), none before the first term or after the last."""
    rest = TERM.sub("\0", pattern)
    stray = next((c for c in rest if c not in ":\0" and not c.isspace()), None)
    if stray is not None:
        raise PatternError(f"host pattern '{pattern}' has a stray '{stray}' ({SUBSCRIPTS})")
    pieces = rest.split("\0")
    inner, ends = pieces[1:-1], (pieces[0], pieces[-1])
    if any(p.count(":") > 1 for p in inner) or any(":" in p for p in ends if len(pieces) > 1):
        raise PatternError(f"host pattern '{pattern}' has an empty term ({SEPARATORS})")


def _check_brackets(term: str, pattern: str) -> None:
    depth = 0
    for char in term.lstrip("&!"):
        if char in "[]":
            depth += 1 if char == "[" else -1
            if depth not in (0, 1):
                where = f"'{term}' in host pattern '{pattern}'"
                raise PatternError(f"{where} has an unbalanced '{char}' ({SUBSCRIPTS})")
    if depth:
        raise PatternError(
            f"'{term}' in host pattern '{pattern}' has an unclosed '[' ({SUBSCRIPTS})"
        )


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def order_terms(terms: Sequence[str]) -> list[str]:
    """Plain terms, then intersections, then exclusions; with no plain term, start from all."""
    plain = [t for t in terms if t[0] not in "&!"]
    intersect = [t for t in terms if t[0] == "&"]
    exclude = [t for t in terms if t[0] == "!"]
    return (plain or ["all"]) + intersect + exclude


def select_host_names(
    pattern: str | Sequence[str],
    groups: Mapping[str, GroupLike],
    hosts: Mapping[str, object],
    implicit: Collection[str] = (),
) -> list[str]:
    """The names of the hosts `pattern` selects, without duplicates, in Ansible's order.

    `pattern` is a pattern, or its terms already split (the lines of a retry file). A term
    that matches nothing and names one of `implicit` selects it (Ansible's implicit localhost).
    """
    terms = split_pattern(pattern) if isinstance(pattern, str) else [t for t in pattern if t]
    shown = pattern if isinstance(pattern, str) else ":".join(terms)
    if not terms:
        raise PatternError(f"empty host pattern {shown!r} (e.g. all, web, 'web:&prod')")
    matcher = _Matcher(groups, hosts, shown, implicit)
    selected: list[str] = []
    for term in order_terms(terms):
        if term in hosts:
            selected.append(term)
            continue
        matched = matcher.term(term)
        if term[0] == "!":
            excluded = set(matched)
            selected = [h for h in selected if h not in excluded]
        elif term[0] == "&":
            kept = set(matched)
            selected = [h for h in selected if h in kept]
        else:
            selected.extend(matched)
    return list(dict.fromkeys(selected))


class _Matcher:
    def __init__(
        self,
        groups: Mapping[str, GroupLike],
        hosts: Mapping[str, object],
        pattern: str,
        implicit: Collection[str],
    ) -> None:
        self.groups = groups
        self.hosts = hosts
        self.pattern = pattern
        self.implicit = implicit

    def term(self, term: str) -> list[str]:
        """Hosts matched by one term, its `&` or `!` prefix ignored."""
        expression = term[1:] if term[0] in "&!" else term
        if expression in ("", "~"):
            raise PatternError(f"'{term}' in pattern '{self.pattern}' names nothing after '{term}'")
        expression, subscript = _split_subscript(expression)
        matched = self.enumerate(expression)
        if subscript is None or not matched:
            return matched
        return self.apply_subscript(matched, subscript, term)

    def enumerate(self, expression: str) -> list[str]:
        match = _compile(expression, self.pattern)
        found: list[str] = []
        matched_groups = [name for name in self.groups if match(name)]
        for name in matched_groups:
            found.extend(group_host_names(name, self.groups))
        if not matched_groups or expression[0] == "~" or any(c in expression for c in GLOB_CHARS):
            found.extend(name for name in self.hosts if match(name))
        if not found and expression in self.implicit:
            return [expression]
        if not found and not matched_groups and _is_plain(expression):
            raise PatternError(self.unknown(expression))
        return found

    def unknown(self, name: str) -> str:
        close = difflib.get_close_matches(name, [*self.groups, *self.hosts], n=4, cutoff=0.6)
        hint = f"did you mean: {', '.join(close)}" if close else f"groups {known_list(self.groups)}"
        return f"'{name}' in host pattern '{self.pattern}' is neither a host nor a group ({hint})"

    def apply_subscript(
        self, matched: list[str], subscript: tuple[int, int | None], term: str
    ) -> list[str]:
        start, end = subscript
        if end:  # like Ansible, [0:0] and [n] both pick a single host
            return matched[start : (len(matched) - 1 if end == -1 else end) + 1]
        if not -len(matched) <= start < len(matched):
            raise PatternError(
                f"'{term}' in host pattern '{self.pattern}' selects no host "
                f"(it matches {len(matched)}, counted from 0)"
            )
        return [matched[start]]


def _split_subscript(expression: str) -> tuple[str, tuple[int, int | None] | None]:
    if expression[0] == "~":
        return expression, None
    found = SUBSCRIPT.match(expression)
    if found is None:
        return expression, None
    base, index, start, _, end = found.groups()
    if index:
        return base, (int(index), None)
    return base, (int(start), int(end) if end else -1)


def _compile(expression: str, pattern: str) -> Callable[[str], object]:
    if expression[0] != "~":
        return re.compile(fnmatch.translate(expression)).match
    try:
        return re.compile(expression[1:]).match
    except re.error as exc:
        raise PatternError(
            f"'{expression}' in host pattern '{pattern}' is not a valid regular expression: {exc}"
        ) from None


def _is_plain(expression: str) -> bool:
    return expression[0] != "~" and not any(c in expression for c in "?*[")


def group_host_names(name: str, groups: Mapping[str, GroupLike]) -> list[str]:
    """Hosts of a group and its descendants: the group's own, then each level of children."""
    order = [name, *groups[name].children]
    seen = set(order)
    level = list(order)
    while level:
        following = [c for g in level for c in groups[g].children if c not in seen]
        following = list(dict.fromkeys(following))
        seen.update(following)
        order.extend(following)
        level = following
    return list(dict.fromkeys(host for group in order for host in groups[group].hosts))
