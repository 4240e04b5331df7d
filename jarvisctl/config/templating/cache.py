"""A template's output kept by the values of the variables it reads.

Planning renders the same few templates (a check's `with:`, a play's `vars:`) for every host of
the fleet, and most hosts give a template the same values (the group's `data_mount`): 10,000
hosts x 20 checks were 160,000 renders of a handful of distinct outputs. A template rendered a
second time is parsed once more to learn the names it reads; from then on its output is kept
under their values. A template rendered once (a playbook of thousands of distinct checks) costs
nothing extra. Not kept: templates whose output is not a function of those values (the
`random` filter) or that read large values (Ansible's `groups`), whose key would cost more than
the render; a render that fails is never kept, so every host gets its own error.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any

from jarvisctl.core.errors import JarvisError

if TYPE_CHECKING:
    from jinja2 import Environment

# Scalars whose value, with their type (True and 1 render differently), says all there is.
_EXACT = (str, int, bool, type(None), bytes, datetime.date, datetime.datetime, datetime.time)
# Nodes a key may hold before the render is cheaper than the key.
_KEY_BUDGET = 256
_UNSTABLE_FILTERS = frozenset({"random", "shuffle"})
_ABSENT = object()
_ONCE = object()  # rendered once so far: not worth learning its names yet
_NEVER = object()  # its output is not to be kept


def is_template(text: str) -> bool:
    """Whether Jinja2 could make anything of the text but the text itself."""
    return "{{" in text or "{%" in text or "{#" in text


class RenderedTemplates:
    """Outputs of one run's templates, by template and the values of the names it reads."""

    def __init__(self) -> None:
        self._reads: dict[Hashable, Any] = {}  # template -> _ONCE, _NEVER or the names it reads
        self._outputs: dict[tuple[Hashable, tuple[Any, ...]], str] = {}

    def render(
        self,
        key: Hashable,
        text: str,
        variables: Mapping[str, Any],
        env: Callable[[], Environment],
        render: Callable[[], str],
    ) -> str:
        """`render()`, or what it gave before for `key` (a template `text` of environment `env`)
        and the same values of the variables the text reads."""
        reads = self._reads.get(key)
        if reads is None:
            self._reads[key] = _ONCE
            return render()
        if reads is _ONCE:
            reads = self._reads[key] = _names(env(), text)
        if reads is _NEVER:
            return render()
        values = _values(reads, variables)
        if values is None:
            return render()
        output = self._outputs.get((key, values))
        if output is None:
            output = self._outputs[(key, values)] = render()
        return output


def _names(env: Environment, text: str) -> Any:
    """The names a template reads (variables or globals), or _NEVER."""
    import jinja2
    from jinja2 import meta, nodes

    try:
        tree = env.parse(text)
    except jinja2.TemplateError:
        return _NEVER  # rendering says what is wrong with it, every time
    if any(f.name in _UNSTABLE_FILTERS for f in tree.find_all(nodes.Filter)):
        return _NEVER
    return tuple(sorted(meta.find_undeclared_variables(tree)))


def _values(names: tuple[str, ...], variables: Mapping[str, Any]) -> tuple[Any, ...] | None:
    budget = [_KEY_BUDGET]
    values: list[Any] = []
    for name in names:
        try:
            value = variables.get(name, _ABSENT)
        except JarvisError:  # a variable that cannot be rendered: the render says so if read
            return None
        frozen = _frozen(value, budget)
        if frozen is None:
            return None
        values.append(frozen)
    return tuple(values)


def freeze(value: Any) -> Hashable:
    """A hashable stand-in for a value (plain data: scalars, lists, mappings), equal only for
    values that render alike; None for other objects and values of over 256 nodes."""
    return _frozen(value, [_KEY_BUDGET])  # type: ignore[no-any-return]


def _frozen(value: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if value is _ABSENT:
        return ("absent",)
    if isinstance(value, _EXACT):
        return (type(value), value)
    if isinstance(value, float):
        return (float, repr(value))  # 0.0 == -0.0, but they render differently
    pairs: Any
    if isinstance(value, list | tuple):
        pairs = ((None, item) for item in value)
    elif isinstance(value, Mapping):
        pairs = value.items()
    else:
        return None
    items: list[Any] = []
    for key, item in pairs:
        frozen_key, frozen_item = _frozen(key, budget), _frozen(item, budget)
        if frozen_key is None or frozen_item is None:
            return None
        items.append((frozen_key, frozen_item))
    return (type(value), tuple(items))
