"""Regular expressions an operator writes that are matched against a host's output (a step's
`changed_when`, a `command` check's `regex`, an `http` check's `body_match`), refused where
written when their shape makes Python's backtracking engine take exponential time on some
input: a repetition without bound of something that can match one text in several ways.

Two such shapes are told apart, each only where it can be decided simply and soundly (a pattern
is refused only when some text really has several ways through it):
- NESTED: an unbounded repetition inside another (`(a+)+`, `(\\w*\\s?)*`), unless each inner one
  is of a single character class and is followed, always, by a character it cannot match
  (`(\\d+\\.)*`, `(\\w+\\s)*`, `([^,]+,)*`): then where each inner run ends is forced;
- AMBIGUOUS: an unbounded repetition of a finite choice of fixed texts (alternatives, optional
  and bounded parts) in which one text can be spelled two ways (`(a|a)*`, `(a|aa)*`,
  `(ab|a|b)*`, `(?s)(.|\\n)*`), found by the Sardinas-Patterson test over character classes;
  `(foo|bar)+`, `(\\d{1,3}\\.)*` are taken.
The check reads the pattern as `re` parses it (its own parser, which already merges
`(\\w|\\d)` into one class), so that it sees groups, alternatives and lookarounds as the engine
does. Other slow shapes exist (several `.*` in a row are polynomial; an ambiguity this does not
decide): the search itself is bounded in time (core/regex_search.py)."""

from __future__ import annotations

import functools
import importlib
from typing import Any

# re's own parser, compiler and opcodes: `re._parser`, `re._compiler` and `re._constants` since
# Python 3.11, `sre_parse`, `sre_compile` and `sre_constants` before (deprecated since 3.11)
try:
    _parser: Any = importlib.import_module("re._parser")
    _compiler: Any = importlib.import_module("re._compiler")
    _ops: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - Python 3.10
    _parser = importlib.import_module("sre_parse")
    _compiler = importlib.import_module("sre_compile")
    _ops = importlib.import_module("sre_constants")

NESTED = (
    "repeats without bound a part that itself repeats without bound: matching it can take "
    "exponential time on some output (catastrophic backtracking); write it without the "
    "nesting ('(a+)+' matches what 'a+' does), or make the inner repetition atomic ('(?>a+)') "
    "or possessive ('a++')"
)
AMBIGUOUS = (
    "repeats without bound alternatives that can match the same text in more than one way "
    "('(a|aa)*' matches 'aa' as a then a, or as aa): matching it can take exponential time "
    "on some output (catastrophic backtracking); make the alternatives exclude each other "
    "('(a|b)*', not '(a|ab|b)*'), or make the group atomic ('(?>a|aa)*') or the repetition "
    "possessive ('(a|aa)*+')"
)

_REPEATS = (_ops.MAX_REPEAT, _ops.MIN_REPEAT)
# what never backtracks into itself once matched: nothing inside can multiply the work
_ATOMIC = tuple(
    getattr(_ops, name) for name in ("POSSESSIVE_REPEAT", "ATOMIC_GROUP") if hasattr(_ops, name)
)
_ONE_CHARACTER = (_ops.LITERAL, _ops.NOT_LITERAL, _ops.ANY, _ops.IN)
MAX_TEXTS = 256  # texts a repeated part may expand to before it is left undecided
MAX_LENGTH = 64  # characters of each
# characters beyond Latin-1 that witness a class (letters, digits, spaces of other scripts)
_WITNESSES = "\u0100\u0130\u017f\u0300\u0660\u06f0\u2003\u2028\u3000\u4e00\u212a\U0001f600"


def backtracking_hazard(pattern: str) -> str | None:
    """Why `pattern` (which compiles) is refused, NESTED or AMBIGUOUS; None when it is taken."""
    return _hazard(pattern)


@functools.lru_cache(maxsize=512)
def _hazard(pattern: str) -> str | None:
    parsed = _parser.parse(pattern)
    classes = _Classes(parsed)
    if _nested(parsed, False, classes):
        return NESTED
    if _ambiguous(parsed, classes):
        return AMBIGUOUS
    return None


def _nested(items: Any, repeated: bool, classes: _Classes) -> bool:
    """Whether `items` (a parsed pattern) holds an unbounded repetition while `repeated`
    (inside one already), or nests one inside another itself (a backtracking repetition:
    atomic groups and possessive repetitions are not; nor one whose inner runs are
    separated)."""
    for op, value in items:
        if op in _REPEATS:
            _low, high, inner = value
            unbounded = high == _ops.MAXREPEAT
            if unbounded and repeated:
                return True
            if unbounded and _separated(inner, classes):
                continue  # its inner runs end where they must: nothing to split
            if _nested(inner, repeated or unbounded, classes):
                return True
        elif op in _ATOMIC:
            continue
        elif any(_nested(part, repeated, classes) for part in _parts(op, value)):
            return True
    return False


def _separated(items: Any, classes: _Classes) -> bool:
    """Whether a repeated part is a sequence of single characters and unbounded runs of one
    class, each run followed (the last one by the part's first item, in the next round) by a
    required character it cannot match: then every run ends where it must, and the part
    matches a text in one way at most."""
    sequence = _sequence(items)
    if sequence is None or not any(runs for _item, _low, runs in sequence):
        return False
    for index, (item, _low, runs) in enumerate(sequence):
        after, low_after, _ = sequence[(index + 1) % len(sequence)]
        if runs and (low_after == 0 or classes.of(item) & classes.of(after)):
            return False
    return True


def _sequence(items: Any) -> list[tuple[Any, int, bool]] | None:
    """(one-character item, least count, unbounded) for each part of `items`, groups opened;
    None when some part is anything else."""
    found: list[tuple[Any, int, bool]] = []
    for op, value in items:
        if op in _ONE_CHARACTER:
            found.append(((op, value), 1, False))
        elif op == _ops.SUBPATTERN and not value[1] and not value[2]:
            inner = _sequence(value[-1])
            if inner is None:
                return None
            found.extend(inner)
        elif op in _REPEATS and value[1] == _ops.MAXREPEAT and len(value[2]) == 1:
            (inner_op, inner_value), low = value[2][0], value[0]
            if inner_op not in _ONE_CHARACTER:
                return None
            found.append(((inner_op, inner_value), low, True))
        else:
            return None
    return found


def _ambiguous(items: Any, classes: _Classes) -> bool:
    """Whether `items` repeats without bound a finite choice of texts one of which can be
    spelled two ways."""
    for op, value in items:
        if op in _REPEATS:
            inner = value[2]
            if value[1] == _ops.MAXREPEAT:
                texts = _texts(inner)
                if texts is not None and _spelled_twice(classes.words(texts)):
                    return True
            if _ambiguous(inner, classes):
                return True
        elif op not in _ATOMIC and any(_ambiguous(part, classes) for part in _parts(op, value)):
            return True
    return False


def _texts(items: Any) -> list[tuple[Any, ...]] | None:
    """Each way through `items` as its sequence of one-character items (two ways may read the
    same characters); None when some part is not a finite choice, or there are too many."""
    ways: list[tuple[Any, ...]] = [()]
    for op, value in items:
        options = _item_texts(op, value)
        if options is None:
            return None
        ways = [way + option for way in ways for option in options]
        if len(ways) > MAX_TEXTS or any(len(way) > MAX_LENGTH for way in ways):
            return None
    return ways


def _item_texts(op: Any, value: Any) -> list[tuple[Any, ...]] | None:
    if op in _ONE_CHARACTER:
        return [((op, value),)]
    if op == _ops.SUBPATTERN and not value[1] and not value[2]:  # no flags of its own
        return _texts(value[-1])
    if op == _ops.BRANCH:
        found = [_texts(alternative) for alternative in value[1]]
        return None if None in found else [way for ways in found if ways for way in ways]
    if op in _REPEATS and value[1] <= 8:  # a bounded repetition: each count is a way
        low, high, inner = value
        once = _texts(inner)
        if once is None:
            return None
        ways, level = [], [()]
        for count in range(high + 1):
            if count >= low:
                ways.extend(level)
            level = [way + more for way in level for more in once]
            if len(level) > MAX_TEXTS:
                return None
        return ways
    return None


def _spelled_twice(words: list[tuple[frozenset[str], ...]]) -> bool:
    """The Sardinas-Patterson test over classes: whether some text is a concatenation of the
    words (each a sequence of character classes) in two ways. The dangling suffixes are tails
    of words, so the search ends."""
    words = [word for word in words if word]  # an empty round ends the repetition in re
    dangling: set[tuple[frozenset[str], ...]] = set()
    for first, longer in enumerate(words):
        for second, shorter in enumerate(words):
            if first != second and len(shorter) <= len(longer) and _fits(shorter, longer):
                if len(shorter) == len(longer):
                    return True  # two ways match one text
                dangling.add(longer[len(shorter) :])
    todo = list(dangling)
    while todo:
        tail = todo.pop()
        for word in words:
            short, long = (word, tail) if len(word) <= len(tail) else (tail, word)
            if not _fits(short, long):
                continue
            if len(short) == len(long):
                return True
            rest = long[len(short) :]
            if rest not in dangling:
                dangling.add(rest)
                todo.append(rest)
    return False


def _fits(short: tuple[frozenset[str], ...], long: tuple[frozenset[str], ...]) -> bool:
    """Whether some text both `short` and the start of `long` match."""
    return all(one & other for one, other in zip(short, long, strict=False))


class _Classes:
    """The characters each one-character item of a pattern matches, among witnesses: Latin-1,
    every character the pattern names (and its other case, and the neighbours of its ranges'
    ends), and a few of other scripts. Two items that share a witness match a same character
    for sure; two that share none are taken as disjoint (a class that meets another only far
    from every witness would escape: the time bound still holds then)."""

    def __init__(self, parsed: Any) -> None:
        self._parsed = parsed
        self._known: dict[str, frozenset[str]] = {}
        self._witnesses: tuple[str, ...] | None = None

    def of(self, item: tuple[Any, Any]) -> frozenset[str]:
        key = repr(item)
        if key not in self._known:
            alone = _parser.SubPattern(self._parsed.state, [item])
            match = _compiler.compile(alone, 0).fullmatch
            self._known[key] = frozenset(c for c in self.witnesses() if match(c))
        return self._known[key]

    def words(self, texts: list[tuple[Any, ...]]) -> list[tuple[frozenset[str], ...]]:
        return [tuple(self.of(item) for item in text) for text in texts]

    def witnesses(self) -> tuple[str, ...]:
        if self._witnesses is None:
            named: set[str] = set(map(chr, range(256))) | set(_WITNESSES)
            for code in _codes(self._parsed):
                for near in (code - 1, code, code + 1):
                    if 0 <= near <= 0x10FFFF:
                        named |= {chr(near), chr(near).upper(), chr(near).lower()}
            self._witnesses = tuple(c for c in sorted(named) if len(c) == 1)
        return self._witnesses


def _codes(items: Any) -> list[int]:
    """Every code point a parsed pattern names: its literals and its ranges' ends."""
    found: list[int] = []
    for op, value in items:
        if op in (_ops.LITERAL, _ops.NOT_LITERAL):
            found.append(value)
        elif op == _ops.IN:
            found += [v for o, v in value if o in (_ops.LITERAL, _ops.NOT_LITERAL)]
            found += [end for o, v in value if o == _ops.RANGE for end in v]
        elif op in _REPEATS:
            found += _codes(value[2])
        else:
            found += [code for part in _parts(op, value) for code in _codes(part)]
    return found


def _parts(op: Any, value: Any) -> list[Any]:
    """The parsed sub-patterns an opcode holds (a group's, each alternative's, a
    lookaround's, a conditional's branches, an atomic group's or possessive repetition's)."""
    if op == _ops.SUBPATTERN:
        return [value[-1]]
    if op == _ops.BRANCH:
        return list(value[1])
    if op in (_ops.ASSERT, _ops.ASSERT_NOT):
        return [value[1]]
    if op == _ops.GROUPREF_EXISTS:
        return [part for part in value[1:] if part is not None]
    if op in _ATOMIC:
        return [value] if op != getattr(_ops, "POSSESSIVE_REPEAT", None) else [value[2]]
    return []
