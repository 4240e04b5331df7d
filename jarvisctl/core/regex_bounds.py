"""Regular expressions an operator writes that are matched against a host's output (a step's
`changed_when`): refused where written when they nest an unbounded repetition inside another
(`(a+)+`, `(\\w*\\s?)*`), the shape that makes Python's backtracking engine take exponential
time on some input. The check reads the pattern as `re` parses it (its own parser), so that it
sees groups, alternatives and lookarounds as the engine does. Other slow shapes exist (several
`.*` in a row are polynomial): the search itself is bounded (core/regex_search.py)."""

from __future__ import annotations

import importlib
from typing import Any

# re's own parser and its opcodes: `re._parser` and `re._constants` since Python 3.11,
# `sre_parse` and `sre_constants` before (deprecated aliases since 3.11)
try:
    _parser: Any = importlib.import_module("re._parser")
    _ops: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - Python 3.10
    _parser = importlib.import_module("sre_parse")
    _ops = importlib.import_module("sre_constants")

NESTED = (
    "repeats without bound a part that itself repeats without bound: matching it can take "
    "exponential time on some output (catastrophic backtracking); write it without the "
    "nesting ('(a+)+' matches what 'a+' does), or make the inner repetition atomic ('(?>a+)') "
    "or possessive ('a++')"
)

_REPEATS = (_ops.MAX_REPEAT, _ops.MIN_REPEAT)
# what never backtracks into itself once matched: nothing inside can multiply the work
_ATOMIC = tuple(
    getattr(_ops, name) for name in ("POSSESSIVE_REPEAT", "ATOMIC_GROUP") if hasattr(_ops, name)
)


def nested_repetition(pattern: str) -> bool:
    """Whether `pattern` (which compiles) repeats without bound something that itself holds
    a repetition without bound (a backtracking repetition: atomic groups and possessive
    repetitions are not)."""
    return _nested(_parser.parse(pattern), False)


def _nested(items: Any, repeated: bool) -> bool:
    """Whether `items` (a parsed pattern) holds an unbounded repetition while `repeated`
    (inside one already), or nests one inside another itself."""
    for op, value in items:
        if op in _REPEATS:
            _low, high, inner = value
            unbounded = high == _ops.MAXREPEAT
            if unbounded and repeated:
                return True
            if _nested(inner, repeated or unbounded):
                return True
        elif op in _ATOMIC:
            continue
        elif any(_nested(part, repeated) for part in _parts(op, value)):
            return True
    return False


def _parts(op: Any, value: Any) -> list[Any]:
    """The parsed sub-patterns an opcode holds (a group's, each alternative's, a
    lookaround's, a conditional's branches)."""
    if op == _ops.SUBPATTERN:
        return [value[-1]]
    if op == _ops.BRANCH:
        return list(value[1])
    if op in (_ops.ASSERT, _ops.ASSERT_NOT):
        return [value[1]]
    if op == _ops.GROUPREF_EXISTS:
        return [part for part in value[1:] if part is not None]
    return []
