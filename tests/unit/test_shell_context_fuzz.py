"""Differential test of the shell-context lexer against real shells: random commands built from
shell fragments (quotes, $(...), backquotes, ${...}, here-documents, comments, backslashes, case,
template branches...) with one hostile substitution somewhere. Each command is either refused,
or, run by sh, dash, bash and busybox sh, never creates the marker file.

Seeded, so CI sees the same commands every time; for a longer local run:
`JARVISCTL_FUZZ_SEED=7 JARVISCTL_FUZZ_EXAMPLES=5000 pytest tests/unit/test_shell_context_fuzz.py`.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

from jarvisctl.config.templating.templates import TemplateError, Templates
from tests.unit.test_shell_contexts import SHELLS

SEED = int(os.environ.get("JARVISCTL_FUZZ_SEED", "14"))
EXAMPLES = int(os.environ.get("JARVISCTL_FUZZ_EXAMPLES", "300"))

FRAGMENTS = [
    "echo ",
    "printf '%s' ",
    "'",
    '"',
    "$(",
    ")",
    "`",
    "${x:-",
    "}",
    "#",
    "\n",
    "cat <<EOF\n",
    "EOF\n",
    "cat <<'E'\n",
    "E\n",
    "cat <<-T\n",
    "\tT\n",
    "\\",
    "$",
    "x",
    " ",
    ";",
    "|",
    "(",
    "((",
    "))",
    "$((",
    "case a in a) ",
    ";; esac",
    "$'",
    "\\'",
    "sh -c ",
    "eval ",
    "=",
    "&&",
    "a=b ",
    "<",
    ">/dev/null ",
    "<<<",
    "HOME",
    "$(cat <<X\n",
    "X\n",
    ' <<"Q"\n',
    "Q\n",
    "for i in 1; do ",
    "done",
    "{ ",
    " }",
    "&",
    "${",
]
# Each of these breaks out of some context if the lexer misjudged it: by redirecting into M.
VALUES = [
    "a' \" ; >M ; $(>M) `>M` \\\n>M\n",
    "EOF\n>M\nE\n>M\n\tT\n>M\n",
    "x)\n>M\n}\n>M\n",
    "$(>M)'$(>M)'\"$(>M)\"",
    "Q\n>M\nX\n>M\n)\n>M\n",
    "'",
    "\\",
]


def _template(rng: random.Random) -> str:
    parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 8))]
    parts.insert(rng.randint(0, len(parts)), "{{ v }}")
    if rng.random() < 0.2:  # a template branch around some of it
        start = rng.randint(0, len(parts) - 1)
        end = rng.randint(start, len(parts))
        parts[start:end] = ["{% if v %}", *parts[start:end], "{% else %}x{% endif %}"]
    parts += [rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 3))]
    return "".join(parts)


def test_random_commands_never_run_a_payload(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    templates = Templates()
    marker = tmp_path / "M"
    ran = refused = 0
    for _ in range(EXAMPLES):
        template, value = _template(rng), rng.choice(VALUES)
        try:
            command = templates.render_shell(template, {"v": value, "x": "1"})
        except TemplateError:
            refused += 1
            continue
        ran += 1
        for shell in SHELLS:
            subprocess.run(
                [*shell, "-c", command],
                cwd=tmp_path,
                capture_output=True,
                timeout=10,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            assert not marker.exists(), f"{shell}: {template!r} with {value!r} ran {command!r}"
    assert ran > EXAMPLES // 5 and refused > 0  # both outcomes were exercised
