"""Quote a substituted value for the shell context it stands in, or refuse the context.

| context                 | how a value is written                                     |
| ----------------------- | ---------------------------------------------------------- |
| outside quotes          | one single-quoted word (shlex.quote, and `a=b` or `if` too) |
| inside '...'            | each `'` as `'\\''`                                         |
| inside "..."            | `\\`, `"`, `$` and backquote escaped with a backslash       |
| here-document           | `\\`, `$` and backquote escaped; no line may end the body   |
| quoted here-document    | as is; no line may end the body                            |
| comment                 | as is; a newline would end the comment: refused            |

Everywhere else (backquotes, `${...}`, `$((...))`, `$'...'`, a here-document's delimiter, right
after `$NAME` or a backslash) no quoting is safe, and the template is refused where it is written.
"""

from __future__ import annotations

import shlex
from typing import Literal

from jarvisctl.config.templating.shell_context import advance
from jarvisctl.config.templating.shell_state import ShellState, merge
from jarvisctl.core.errors import EXIT_CONFIG, JarvisError
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secret_spellings import double_quoted_body, heredoc_body, single_quoted_posix

Context = Literal["word", "single", "double", "heredoc", "heredoc_quoted", "comment", "raw"]

# Words the shell reads as syntax when unquoted: a value spelled like one is quoted anyway.
_RESERVED = frozenset(
    {"if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until"}
    | {"do", "done", "in", "function", "time", "coproc", "{", "}", "!", "[[", "]]"}
)


class UnsafeContextError(JarvisError):
    """A substitution stands where no quoting makes a value safe, or a value cannot be written
    safely where it stands."""

    exit_code = EXIT_CONFIG


@frozen
class Slot:
    """Where one substitution stands, as the template's literal text tells."""

    context: Context
    state: ShellState  # the lexer's state just before the substitution (for `| raw` text)
    prefix: str | None = None  # here-documents: the line's text before it, None if unknown
    suffix: str | None = None  # here-documents: the line's text after it, None if unknown


def context_of(state: ShellState) -> tuple[ShellState, Context]:
    """The context a substitution stands in after `state`, and the state it is read in.

    Raises UnsafeContextError (the message says how to write it instead) where no quoting works.
    """
    if state.carry.startswith("$") and not state.carry.startswith("$("):
        raise UnsafeContextError(
            f"it stands right after {state.carry!r}, so it would become part of a variable "
            "name (or of a $'...' string); write ${NAME}{{ x }}, or put a space or quote between"
        )
    if state.carry == "\\":
        raise UnsafeContextError(
            "it stands right after a backslash, which would escape the quoting of its value; "
            "remove the backslash: the value is quoted for you"
        )
    state = advance(state, "", final=True)
    if state.lost:
        raise UnsafeContextError(
            f"after {state.lost} jarvisctl cannot tell how the shell reads this part of the "
            'command; pass the value in a variable: v={{ x }}; ... "$v"'
        )
    for frame in reversed(state.frames):
        refusal = _REFUSED.get(frame.kind)
        if refusal is not None:
            raise UnsafeContextError(refusal)
    if _is_code(state):
        raise UnsafeContextError(
            "it stands in text that another interpreter runs as code (the script of sh -c, "
            "eval, ssh, python -c, an awk program, a here-document fed to sh), where the "
            "value would be code again; hand it over as an argument: "
            "sh -c 'echo \"$1\"' sh {{ x }}"
        )
    kind = state.innermost.kind
    context: Context = {  # type: ignore[assignment]
        "cmd": "word",
        "sq": "single",
        "dq": "double",
        "hd": "heredoc",
        "hdq": "heredoc_quoted",
        "comment": "comment",
    }[kind]
    return state, context


def _is_code(state: ShellState) -> bool:
    """Whether the substitution lands in a word, or a here-document, that a command hands to
    another interpreter as its program (shell_words)."""
    innermost = state.innermost
    starts_word = innermost.kind == "cmd" and state.word != "in"
    if starts_word and innermost.words.start("").code:
        return True
    return any(frame.code or frame.words.code for frame in state.frames)


_REFUSED = {
    "bq": (
        "it stands inside backquotes (`...`), where no quoting is safe; write $(...) "
        'instead: "$(cmd {{ x }})"'
    ),
    "param": (
        "it stands inside ${...}, where no quoting is safe; put the value in a variable "
        'first: v={{ x }}; echo "${v:-default}"'
    ),
    "arith": (
        "it stands inside arithmetic ($((...)) or ((...))), where a value is evaluated as "
        "code; compute it in the template: {{ (x | int) + 1 }}"
    ),
    "dsq": (
        "it stands inside $'...', where no quoting is safe in every shell; put it outside "
        "quotes: echo {{ x }}; it is quoted for you"
    ),
    "delim": (
        "it stands in a here-document's delimiter; write the delimiter literally (<<'EOF') "
        "and the value in the body"
    ),
}


def quote(slot: Slot, value: str) -> str:
    """`value` written for its slot; raises UnsafeContextError when no spelling is safe."""
    text = _written(slot, value)
    body = slot.state.body
    in_body = any(frame.kind in ("hd", "hdq") for frame in slot.state.frames)
    # in a here-document's body, even inside a $(...) or quotes of it: shells collect the body
    # line by line before they read what it says
    if body is not None and in_body and _may_end_body(text, slot, body.delimiter, body.strip_tabs):
        raise UnsafeContextError(
            f"its value would end the here-document early (a line {body.delimiter!r}); "
            "choose a delimiter that cannot appear in the value"
        )
    return text


def _written(slot: Slot, value: str) -> str:
    if slot.context == "word":
        return quote_word(value)
    # The same functions tell the redactor how a secret is spelled in each context: one
    # definition, so that what is written here is always what redaction looks for.
    if slot.context == "single":
        return single_quoted_posix(value)
    if slot.context == "double":
        return double_quoted_body(value)
    if slot.context == "heredoc":
        return heredoc_body(value)
    if slot.context == "comment" and "\n" in value:
        raise UnsafeContextError(
            "its value has a newline and it stands in a comment, which the newline would "
            "end; move it out of the comment"
        )
    return value


def quote_word(value: str) -> str:
    """One shell word. shlex.quote leaves `a=b` and `if` bare, where the shell would read an
    assignment or a reserved word: those are quoted too."""
    quoted = shlex.quote(value)
    if quoted == value and ("=" in value or value in _RESERVED):
        return f"'{value}'"
    return quoted


def check_raw(slot: Slot, text: str) -> None:
    """Trusted text (`| raw`) must leave the quoting as it found it: the contexts of the
    substitutions after it were told from the template's literal text alone."""
    after = advance(slot.state, text, final=True)
    if merge(slot.state, after) is None:
        raise UnsafeContextError(
            "its `| raw` text opens or closes a quote, a $(...), a comment or a here-document; "
            "raw text must leave the quoting as it found it"
        )


def _may_end_body(text: str, slot: Slot, delimiter: str, strip_tabs: bool) -> bool:
    """Whether a line of the here-document, with `text` in it, could be the delimiter line.

    The text around the value on its line is known from the template (`prefix`, `suffix`)
    unless another substitution shares the line: then any text could be there.
    """
    segments = text.split("\n")
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        left_known = index > 0 or slot.prefix is not None
        right_known = index < last or slot.suffix is not None
        line = (slot.prefix or "" if index == 0 else "") + segment
        line += slot.suffix or "" if index == last else ""
        if _could_be(line, left_known, right_known, delimiter, strip_tabs):
            return True
    return False


def _could_be(line: str, left: bool, right: bool, delimiter: str, strip_tabs: bool) -> bool:
    stripped = line.lstrip("\t") if strip_tabs else line
    if left and right:
        return stripped == delimiter
    if left:
        return delimiter.startswith(stripped)
    if right:
        return delimiter.endswith(line) or stripped == delimiter
    return line in delimiter or stripped in delimiter
