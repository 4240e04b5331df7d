"""core/regex_bounds.py: which shapes of an operator's regex are refused as exponential for
Python's backtracking engine, and which are taken. Each refused pattern below was timed on this
kind of machine (its time grows by a constant factor with each repeated unit of a text that
makes it fail); each taken one is common in checks and steps, and linear."""

from __future__ import annotations

import re
import time

import pytest

from jarvisctl.core.regex_bounds import AMBIGUOUS, NESTED, backtracking_hazard
from jarvisctl.kinds.command import CommandParams

NESTED_SHAPES = [
    r"(a+)+",
    r"(\w*\s?)*",
    r"(?:x|(\w*\s?)*)=(\d+)",
    r"(x+x+y)*z",  # a run split between two inner runs, in each round
    r"(\w+\d+x)*",  # \d is in \w: where the first run ends is not forced
    r"(\d+,?)*$",  # the separator is optional
]
AMBIGUOUS_SHAPES = [
    r"(a|aa)*c",  # 'aa' is a then a, or aa
    r"^(a|a)*c",
    r"(ab|a|b)*c",
    r"(?s)(.|\n)*x",  # . matches \n too, with DOTALL
    r"(a?a?)*c",
    r'"(\\.|[^"])*"',  # a backslash is both an escape's start and a character
    r"(a{1,3})+\d",  # 'aaa' is a+a+a, a+aa, aa+a or aaa
    r"(?:Δ|Δx|x)+$",
    r"(?:[a-f]x|[e-z]x)*1",  # e and f are in both
    r"(?:[\u4e00-\u9fff]x|\wx)*\.",  # CJK ideographs are word characters
    r"(?:ab|cd|abcd)+x",
]
TAKEN = [
    r"(foo|bar)+",
    r"(\d+\.)*",
    r"(\d+\.)+\d+",
    r"\d+(\.\d+)*",
    r"version=((\d+\.)+\d+)",
    r"(\w+\s)*",
    r"([^,]+,)*",
    r"(\w+-)*\w+",
    r"(\d{1,3}\.){3}\d{1,3}",
    r"(\d{1,3}\.)*",
    r"(\w|\d)+$",  # re makes one class of it
    r"(?i)(a|A)*c",  # the same
    r"(.|\n)*x",  # . does not match \n without DOTALL
    r'"(\\.|[^"\\])*"',
    r"(https?|ftp)://\S+",
    r"(ab)+=(\d)",
    r"(a{3})+\d",
    r"(?:ab|cd|abd)+x",  # a code: each text splits one way only
    r"(a|\u4e00)*",
    r"([a-f]|[e-z])*1",  # re makes one class of it
    r"(?:[\u4e00-\u9fff]x|\dx)*\.",
    r"\d+ (?:packages?|files?) changed",
    r".*.*.*x",  # polynomial: the search's time bound is for this
]


@pytest.mark.parametrize("pattern", NESTED_SHAPES)
def test_a_nested_repetition_whose_runs_can_be_split_is_refused(pattern: str) -> None:
    assert backtracking_hazard(pattern) == NESTED


@pytest.mark.parametrize("pattern", AMBIGUOUS_SHAPES)
def test_a_repeated_choice_that_can_spell_one_text_two_ways_is_refused(pattern: str) -> None:
    assert backtracking_hazard(pattern) == AMBIGUOUS


@pytest.mark.parametrize("pattern", TAKEN)
def test_a_common_pattern_is_taken(pattern: str) -> None:
    assert backtracking_hazard(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "unit", "fewer", "more"),
    [
        (r"^(a|aa)*c", "a", 18, 26),  # grows as Fibonacci's numbers
        (r"^(ab|a|b)*c", "ab", 8, 14),  # doubles with each unit
        (r"^(a{1,3})+\d", "a", 14, 22),
    ],
)
def test_what_is_refused_as_ambiguous_is_exponential_and_its_fix_is_not(
    pattern: str, unit: str, fewer: int, more: int
) -> None:
    """The refusal is real: a few more units of a failing text multiply the time many fold,
    while the atomic form the message offers stays linear (Python >= 3.11)."""

    def seconds(regex: str, count: int) -> float:
        taken = []
        for _ in range(3):
            started = time.perf_counter()
            assert re.search(regex, unit * count + "!") is None
            taken.append(time.perf_counter() - started)
        return min(taken)

    assert seconds(pattern, more) > 8 * seconds(pattern, fewer)
    if hasattr(re, "NOFLAG"):  # 3.11: atomic groups
        atomic = pattern.replace("^(", "^(?>", 1)
        assert backtracking_hazard(atomic) is None
        assert seconds(atomic, 2000) < 0.05


def test_the_refusal_is_located_and_says_how_to_write_it() -> None:
    with pytest.raises(ValueError, match="alternatives that can match the same text") as error:
        CommandParams.model_validate({"command": "x", "parse": "regex", "regex": "(a|ab|b)+"})
    assert "make the alternatives exclude each other" in str(error.value)
    assert "'(a|ab|b)+'" in str(error.value)
