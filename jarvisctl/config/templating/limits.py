"""Bounds on what a template may build: text size, loop and call steps, call depth.

Jinja2's sandbox stops attribute tricks but not `{{ 'a' * 10**9 }}`, `'%0*d' % (10**9, 1)`,
`{{ 'a' | center(10**9) }}`, nested `range` loops or a macro that calls itself twice per call:
each exhausts the controller's memory or CPU. Every operation that can multiply a size is checked
*before* it runs, every built text is checked after, and each render has a budget of loop
iterations and calls, and of call depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jarvisctl.core.errors import EXIT_CONFIG, JarvisError

if TYPE_CHECKING:
    from jinja2.runtime import Context

MAX_TEXT = 1 << 20  # characters of any text a template builds, and of what it renders
MAX_ITEMS = 100_000  # items of a list, dict or set it builds
MAX_STEPS = 200_000  # loop iterations plus calls (each CALL_STEPS) in one render
CALL_STEPS = 10  # a call (a macro's above all) costs about ten loop iterations
MAX_DEPTH = 40  # nested calls (macros calling macros)
MAX_POWER_BITS = 1 << 16  # size of an integer built by `**`

# The key under which a render's Budget travels in the template's variables: not a name a
# template can write, so no template can reach or replace it.
BUDGET_KEY = "jarvisctl budget"


class TemplateLimitError(JarvisError):
    """A template tried to build more than the limits allow."""

    exit_code = EXIT_CONFIG


def _too_big(what: str, size: int, limit: int, unit: str) -> TemplateLimitError:
    return TemplateLimitError(
        f"{what} would build {size:,} {unit}, over the limit of {limit:,} {unit} a template may "
        "build"
    )


@dataclass
class Budget:
    """What one render may still spend. Mutable by design: it is the render's meter."""

    steps: int = MAX_STEPS
    output: int = MAX_TEXT * 4  # everything emitted, inner macro and block output included
    depth: int = 0

    def step(self, count: int = 1) -> None:
        self.steps -= count
        if self.steps < 0:
            raise TemplateLimitError(
                f"the template takes more than {MAX_STEPS:,} loop iterations (a call counts "
                f"{CALL_STEPS})"
            )

    def emit(self, size: int) -> None:
        self.output -= size
        if self.output < 0:
            raise TemplateLimitError(
                f"the template writes more than {MAX_TEXT * 4:,} characters in all (its result "
                f"may be at most {MAX_TEXT:,} = 1 MiB)"
            )


def budget_of(context: Context) -> Budget:
    budget = context.get(BUDGET_KEY)
    if not isinstance(budget, Budget):  # pragma: no cover - every render passes one
        raise TemplateLimitError("internal: a template rendered without a budget")
    return budget


def size_of(value: Any) -> int:
    """Characters of text, items of a container; 0 for anything else."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        return len(value)
    return 0


def check_built(value: Any, what: str) -> Any:
    """Refuse a value that is already over the limits (it was built by something unchecked)."""
    if isinstance(value, str | bytes) and len(value) > MAX_TEXT:
        raise _too_big(what, len(value), MAX_TEXT, "characters")
    if isinstance(value, list | tuple | dict | set | frozenset) and len(value) > MAX_ITEMS:
        raise _too_big(what, len(value), MAX_ITEMS, "items")
    return value


def check_product(left: Any, right: Any) -> None:
    """`text * n`, `list * n`, big `int * int`."""
    for seq, count in ((left, right), (right, left)):
        if isinstance(count, int) and isinstance(seq, str | bytes | list | tuple):
            limit, unit = (
                (MAX_TEXT, "characters")
                if isinstance(seq, str | bytes)
                else (
                    MAX_ITEMS,
                    "items",
                )
            )
            if len(seq) * count > limit:
                raise _too_big("'*'", len(seq) * count, limit, unit)
    if isinstance(left, int) and isinstance(right, int):
        bits = abs(left).bit_length() + abs(right).bit_length()
        if bits > MAX_POWER_BITS:
            raise _too_big("'*'", bits, MAX_POWER_BITS, "bits")


def check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        bits = max(1, abs(base).bit_length()) * exponent
        if abs(base) > 1 and bits > MAX_POWER_BITS:
            raise _too_big("'**'", bits, MAX_POWER_BITS, "bits")


# A printf-style conversion: width and precision are what can make it huge.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


def check_percent_format(template: Any, args: Any) -> None:
    """`'%0*d' % (10**9, 1)` and `'%01000000000d' % 1`: the widths and precisions."""
    if not isinstance(template, str):
        return
    values = list(args) if isinstance(args, tuple) else [args]
    position = 0
    total = len(template)
    for match in _PERCENT.finditer(template):
        for part in (match[1], match[2]):
            if part == "*":
                width = values[position] if position < len(values) else 0
                position += 1
            else:
                width = int(part) if part and len(part) < 12 else (MAX_TEXT + 1 if part else 0)
            total += width if isinstance(width, int) and width > 0 else 0
        if match[3] != "%":
            position += 1
    total += sum(len(str(v)) for v in values if isinstance(v, str))
    if total > MAX_TEXT:
        raise _too_big("'%' formatting", total, MAX_TEXT, "characters")


# A str.format spec: [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_SPEC = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(\d*)[,_]?(?:\.(\d+))?[a-zA-Z%]?$", re.DOTALL)


def check_format_spec(spec: str) -> None:
    found = _SPEC.match(spec)
    numbers = [found[1], found[2]] if found else re.findall(r"\d+", spec)
    for number in numbers:
        if number and (len(number) > 7 or int(number) > MAX_TEXT):
            raise _too_big(f"format spec {spec[:40]!r}", int(number[:12]), MAX_TEXT, "characters")


def check_text_call(obj: Any, name: str, args: tuple[Any, ...]) -> None:
    """Methods of str and filters that can make text much larger than their inputs."""
    text = obj if isinstance(obj, str) else ""
    if name in ("ljust", "rjust", "center", "zfill", "indent", "wordwrap", "truncate"):
        width = args[0] if args else 0
        if isinstance(width, int) and width > MAX_TEXT:
            raise _too_big(f"{name}({width})", width, MAX_TEXT, "characters")
        if name == "indent" and isinstance(width, str):
            lines = text.count("\n") + 1
            check_size(f"indent({width[:20]!r})", len(text) + lines * len(width))
    elif name == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else 8
        check_size("expandtabs", len(text) + text.count("\t") * max(0, tab))
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        hits = text.count(old) if old else len(text) + 1
        check_size("replace", len(text) + hits * max(0, len(new) - len(old)))
    elif name in ("join", "slice", "batch"):
        _check_join(name, text, args)


def _check_join(name: str, separator: Any, args: tuple[Any, ...]) -> None:
    if name in ("slice", "batch"):
        count = args[0] if args else 0
        if isinstance(count, int) and count > MAX_ITEMS:
            raise _too_big(f"{name}({count})", count, MAX_ITEMS, "items")
        return
    items = args[0] if args else ()
    if isinstance(items, Sized) and isinstance(separator, str):
        total = len(separator) * max(0, len(items) - 1)
        if isinstance(items, list | tuple):
            total += sum(len(i) for i in items if isinstance(i, str))
        check_size("join", total)


def check_size(what: str, size: int) -> None:
    if size > MAX_TEXT:
        raise _too_big(what, size, MAX_TEXT, "characters")


_GROWING_METHODS = frozenset({"append", "extend", "insert", "update", "add", "setdefault"})


def check_container_call(obj: Any, name: str, args: tuple[Any, ...]) -> None:
    """`items.extend(items)` in a loop doubles a list; bound what a container may hold."""
    if name in _GROWING_METHODS and isinstance(obj, list | dict | set):
        added = sum(size_of(a) if name in ("extend", "update") else 1 for a in args)
        if len(obj) + added > MAX_ITEMS:
            raise _too_big(f"{name}()", len(obj) + added, MAX_ITEMS, "items")


def counted(budget: Budget, items: Iterable[Any], literal: int) -> Iterator[Any]:
    """A loop's items, each one a step, and the text the loop body writes each time."""
    for item in items:
        budget.step()
        budget.emit(literal)
        yield item
