"""The state of the shell lexer (shell_context) between two pieces of a template's text."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from jarvisctl.config.templating.shell_words import NO_WORDS, Words
from jarvisctl.core.frozen import frozen

# Frame kinds, innermost last. `cmd` is unquoted command text (the top level, or inside `$(...)`).
FrameKind = Literal[
    "cmd", "sq", "dq", "dsq", "bq", "param", "arith", "comment", "hd", "hdq", "delim"
]
WordPosition = Literal["start", "in", "unknown"]


@frozen
class Frame:
    kind: FrameKind
    depth: int = 0  # open parentheses (`$(`, `$((`) or braces (`${`) not yet closed
    substitution: bool = False  # a `cmd` frame opened by `$(`: a `)` at depth 0 closes it
    words: Words = NO_WORDS  # a `cmd` frame's simple command so far
    code: bool = False  # a here-document's body that a command reads as its program


@frozen
class Heredoc:
    delimiter: str
    quoted: bool  # any part of the delimiter word quoted: the body is not expanded
    strip_tabs: bool  # `<<-`
    code: bool = False  # fed to an interpreter as its program (`sh <<EOF`)


@frozen
class ShellState:
    frames: tuple[Frame, ...] = (Frame("cmd"),)
    word: WordPosition = "start"  # in a `cmd` frame: does the next character start a word?
    carry: str = ""  # text whose meaning depends on what follows (`$`, `\`, `<`, `<<`, `$(`)
    pending: tuple[Heredoc, ...] = ()  # here-documents whose bodies start at the next newline
    body: Heredoc | None = None  # the here-document whose body this is (innermost `hd`/`hdq`)
    line: str | None = ""  # this line's text so far; None when a substitution is on it
    delimiter: str = ""  # the here-document delimiter being read (`delim` frame)
    delimiter_quote: str = ""  # the quote open inside that delimiter
    delimiter_quoted: bool = False
    delimiter_tabs: bool = False
    lost: str = ""  # why the context can no longer be told (text shells read differently)

    @property
    def innermost(self) -> Frame:
        return self.frames[-1]


def merge(a: ShellState, b: ShellState) -> ShellState | None:
    """The state after either a or b (two branches of a template), or None when they differ in
    quoting. They may differ in whether a word has started, in the known text of the line and
    in the words of a command: those become unknown (a later `#` at a word's start is refused)
    or the more cautious of the two (a word that is code in either branch is code)."""
    if a == b:
        return a
    if len(a.frames) != len(b.frames):
        return None
    frames = []
    for one, other in zip(a.frames, b.frames, strict=True):
        if replace(one, words=other.words) != other:
            return None
        frames.append(replace(one, words=one.words.merge(other.words)))
    joined = tuple(frames)
    if replace(a, frames=joined, word=b.word, line=b.line) != replace(b, frames=joined):
        return None
    return replace(
        a,
        frames=joined,
        word=a.word if a.word == b.word else "unknown",
        line=a.line if a.line == b.line else None,
    )
