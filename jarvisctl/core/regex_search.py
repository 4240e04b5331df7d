"""An operator's regular expression searched in a host's output (a step's `changed_when`, a
`command` check's `regex`), bounded in time and size.

Python's `re` backtracks, has no timeout, and holds its thread until it is done: a pattern that
backtracks badly (the language refuses the nested repetitions that make it exponential, but
`.*.*.*x` is already polynomial) on a long, hostile output could hold a run for hours. So the
search runs in a child Python process (`-I -S`: nothing of the environment or of site-packages)
that is killed once MATCH_SECONDS have passed, over the last SEARCHED_CHARS characters of the
output only; the pattern and the output travel on its stdin, never on its command line. A
search that did not finish is neither a match nor a miss: the caller is told why."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass

SEARCHED_CHARS = 64 * 1024  # the tail of the output searched, in characters
MATCH_SECONDS = 3.0  # how long one match may take, the child's start included

_SEARCH = (
    "import json, re, sys\n"
    "asked = json.load(sys.stdin)\n"
    "found = re.search(asked['pattern'], asked['text'], re.MULTILINE)\n"
    "told = None if found is None else [found[0], *found.groups()]\n"
    "sys.stdout.write(json.dumps({'found': told}))\n"
)


@dataclass(frozen=True)
class Match:
    """What a bounded search found: the whole match and its groups' texts (None: a group that
    took no part in the match)."""

    text: str
    groups: tuple[str | None, ...] = ()


def search_bounded(pattern: str, output: str, seconds: float = MATCH_SECONDS) -> bool | str:
    """Whether `pattern` (re.MULTILINE) matches in the output's last SEARCHED_CHARS
    characters; or, when that could not be told, why (a text)."""
    found = match_bounded(pattern, output, seconds)
    return found if isinstance(found, str) else found is not None


def match_bounded(pattern: str, output: str, seconds: float = MATCH_SECONDS) -> Match | str | None:
    """The first match of `pattern` (re.MULTILINE) in the output's last SEARCHED_CHARS
    characters (None: no match); or, when that could not be told, why (a text)."""
    asked = json.dumps({"pattern": pattern, "text": output[-SEARCHED_CHARS:]})
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _SEARCH],
            input=asked,
            capture_output=True,
            text=True,
            timeout=seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:  # the child was killed
        return f"within {seconds:g}s (a pattern that backtracks too much?)"
    except OSError as exc:
        return f"(no process to match it in: {exc})"
    if done.returncode == 0:
        with contextlib.suppress(ValueError, TypeError, IndexError, KeyError):
            found = json.loads(done.stdout)["found"]
            return None if found is None else Match(str(found[0]), tuple(found[1:]))
    said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return f"(its matching process failed: {said[:200]})"
