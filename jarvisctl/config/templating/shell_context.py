"""Where in a POSIX sh command a piece of text stands: a small lexer over a template's literal text.

A substitution is safe only if it is quoted for the context it lands in (outside quotes, inside
'...', inside "...", in a here-document). The lexer reads the literal text a template writes around
its substitutions and tells each substitution's context; a context that no quoting can make safe
(inside backticks, `${...}`, `$((...))`, a here-document's delimiter) is refused by the caller.

Quoted substitutions never change the state (that is what quoting them for their context means),
so the template's literal text alone decides the context of every substitution.
"""

from __future__ import annotations

from dataclasses import replace

from jarvisctl.config.templating.shell_state import (
    Frame,
    FrameKind,
    Heredoc,
    ShellState,
    WordPosition,
)
from jarvisctl.config.templating.shell_words import NO_WORDS, Words

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME = _NAME_START | frozenset("0123456789")
_METACHARS = frozenset(" \t\n;&|<>()")
_BLANKS = frozenset(" \t")


class _Scanner:
    """Mutable working copy of a ShellState while one piece of text is read."""

    def __init__(self, state: ShellState) -> None:
        self.frames = list(state.frames)
        self.word: WordPosition = state.word
        self.pending = list(state.pending)
        self.body = state.body
        self.line = state.line
        self.delimiter = state.delimiter
        self.delimiter_quote = state.delimiter_quote
        self.delimiter_quoted = state.delimiter_quoted
        self.delimiter_tabs = state.delimiter_tabs
        self.lost = state.lost

    def state(self, carry: str) -> ShellState:
        return ShellState(
            frames=tuple(self.frames),
            word=self.word,
            carry=carry,
            pending=tuple(self.pending),
            body=self.body,
            line=self.line,
            delimiter=self.delimiter,
            delimiter_quote=self.delimiter_quote,
            delimiter_quoted=self.delimiter_quoted,
            delimiter_tabs=self.delimiter_tabs,
            lost=self.lost,
        )

    def push(self, kind: FrameKind, depth: int = 0, substitution: bool = False) -> None:
        if self.frames[-1].kind == "cmd":
            self.word = "in"
        self.frames.append(Frame(kind, depth, substitution))

    def pop(self) -> None:
        self.frames.pop()
        if self.frames[-1].kind == "cmd":
            self.word = "in"

    def lose(self, why: str) -> None:
        self.lost = self.lost or why


def advance(state: ShellState, text: str, *, final: bool = False) -> ShellState:
    """The state after `text`. With `final`, text that waits for what follows (a `$`, a `\\`, a
    `<`) is read as followed by something neutral: a substitution, or the end of the template."""
    scanner = _Scanner(state)
    text = state.carry + text
    position = 0
    while position < len(text):
        if text[position] == "\n" and _ends_body_inside(scanner):
            position += 1
            scanner.line = ""
            continue
        taken = _HANDLERS[scanner.frames[-1].kind](scanner, text, position, final)
        if taken == 0:
            return scanner.state(text[position:])
        read = text[position : position + taken]
        if "\n" in read:
            scanner.line = read.rsplit("\n", 1)[1]
        elif scanner.line is not None:
            scanner.line += read
        position += taken
    return scanner.state("")


def _ends_body_inside(s: _Scanner) -> bool:
    """A newline inside a $(...), quote or comment within a here-document's body: True when
    its line was the delimiter (the innermost body's own newlines go to its handler)."""
    if s.frames[-1].kind in ("hd", "hdq") or s.body is None:
        return False
    if not any(frame.kind in ("hd", "hdq") for frame in s.frames):
        return False
    return _end_of_line(s)


def finish(state: ShellState) -> ShellState:
    """The state at the end of the template: a here-document may end without a newline."""
    end = advance(state, "", final=True)
    scanner = _Scanner(end)
    if scanner.frames[-1].kind in ("hd", "hdq"):
        _end_of_line(scanner)
    return scanner.state("")


def unknown_line(state: ShellState) -> ShellState:
    """After a substitution: the text of its line is no longer known."""
    return replace(state, line=None, word="in" if state.innermost.kind == "cmd" else state.word)


def _need(text: str, i: int, count: int, final: bool) -> bool:
    """True when fewer than `count` characters follow i and more may come."""
    return not final and i + count >= len(text)


def _dollar(s: _Scanner, text: str, i: int, final: bool, *, in_double: bool) -> int:
    """`$` and what it opens. Returns 0 when the next character has not come yet."""
    if _need(text, i, 1, final):
        return 0
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if nxt == "(":
        if _need(text, i, 2, final):
            return 0
        if i + 2 < len(text) and text[i + 2] == "(":
            s.push("arith", depth=2)
            return 3
        s.push("cmd", depth=1, substitution=True)
        s.word = "start"
        return 2
    if nxt == "{":
        s.push("param", depth=1)
        return 2
    if nxt == "'" and not in_double:
        s.push("dsq")
        return 2
    if nxt in _NAME_START:
        end = i + 1
        while end < len(text) and text[end] in _NAME:
            end += 1
        if end == len(text) and not final:
            return 0  # `$NAME` at the end: a substitution next would extend the name
        return end - i
    return 2 if nxt and nxt in "@*#?-$!0123456789" else 1


def _cmd(s: _Scanner, text: str, i: int, final: bool) -> int:
    c = text[i]
    frame = s.frames[-1]
    if c in _METACHARS:
        if s.word != "start":
            _end_word(s)
        if c in ";&|\n()":
            _set_words(s, NO_WORDS)  # a new simple command
    elif c == "#" and s.word != "in":
        if s.word == "unknown":
            s.lose("a '#' that a template branch may or may not start a word with")
        s.push("comment")
        return 1
    elif c == "(" or s.word == "in":
        pass
    else:
        _set_words(s, frame.words.start(c))
    if c == "\\":
        if _need(text, i, 1, final):
            return 0
        s.word = "in"
        _set_words(s, s.frames[-1].words.add(text[i + 1 : i + 2]))
        return 2
    if c == "'":
        s.push("sq")
    elif c == '"':
        s.push("dq")
    elif c == "`":
        s.push("bq")
    elif c == "$":
        s.word = "in"
        return _dollar(s, text, i, final, in_double=False)
    elif c == "<":
        return _less(s, text, i, final)
    elif c == "(":
        return _open_paren(s, text, i, final)
    elif c == ")":
        frame = s.frames[-1]
        if frame.substitution and frame.depth <= 1:
            s.pop()
        else:
            s.frames[-1] = replace(frame, depth=max(0, frame.depth - 1))
            s.word = "start"
    elif c == "\n":
        s.word = "start"
        _start_bodies(s)
    elif c in _METACHARS:
        s.word = "start"
    else:
        s.word = "in"
        _set_words(s, s.frames[-1].words.add(c))
    return 1


def _open_paren(s: _Scanner, text: str, i: int, final: bool) -> int:
    frame = s.frames[-1]
    if s.word != "in":
        if _need(text, i, 1, final):
            return 0
        if text[i + 1 : i + 2] == "(":
            s.push("arith", depth=2)  # bash's (( arithmetic command
            return 2
    s.frames[-1] = replace(frame, depth=frame.depth + 1)
    s.word = "start"
    return 1


def _set_words(s: _Scanner, words: Words) -> None:
    s.frames[-1] = replace(s.frames[-1], words=words)


def _end_word(s: _Scanner) -> None:
    frame = s.frames[-1]
    if frame.substitution and (frame.words.reading("case") or frame.words.reading("esac")):
        # `case x in a)`: a pattern's `)` inside `$(...)` would close it for this lexer
        s.lose("'case' inside $(...)")
    _set_words(s, frame.words.end())


def _less(s: _Scanner, text: str, i: int, final: bool) -> int:
    if _need(text, i, 2, final):
        return 0
    if text[i + 1 : i + 2] != "<":
        s.word = "start"
        return 1
    if text[i + 2 : i + 3] == "<":  # bash's here-string: an ordinary word follows
        s.word = "start"
        return 3
    tabs = text[i + 2 : i + 3] == "-"
    s.frames.append(Frame("delim"))
    s.delimiter, s.delimiter_quote, s.delimiter_quoted, s.delimiter_tabs = "", "", False, tabs
    return 3 if tabs else 2


def _delim(s: _Scanner, text: str, i: int, final: bool) -> int:
    c = text[i]
    if s.delimiter_quote == "'":
        if c == "'":
            s.delimiter_quote = ""
        else:
            s.delimiter += c
        return 1
    if s.delimiter_quote == '"':
        if c == '"':
            s.delimiter_quote = ""
            return 1
        if c == "\\" and text[i + 1 : i + 2] in ('"', "\\", "$", "`"):
            s.delimiter += text[i + 1]
            return 2
        if c in "$`":
            s.lose("a here-document delimiter with $ or `")
        s.delimiter += c
        return 1
    if c in _BLANKS and not s.delimiter and not s.delimiter_quoted:
        return 1
    if c in _METACHARS:
        if not s.delimiter and not s.delimiter_quoted:
            s.lose("'<<' without a here-document delimiter")
        s.frames.pop()
        code = s.frames[-1].words.stdin_is_code
        s.pending.append(Heredoc(s.delimiter, s.delimiter_quoted, s.delimiter_tabs, code))
        s.delimiter = ""
        s.word = "start"
        return _cmd(s, text, i, final)
    if c in "'\"":
        s.delimiter_quote, s.delimiter_quoted = c, True
        return 1
    if c == "\\":
        if _need(text, i, 1, final):
            return 0
        s.delimiter_quoted = True
        s.delimiter += text[i + 1 : i + 2]
        return 2
    if c in "$`":
        s.lose("a here-document delimiter with $ or `")
    s.delimiter += c
    return 1


def _start_bodies(s: _Scanner) -> None:
    """A newline in command text: the announced here-documents' bodies follow, in order."""
    if s.pending:
        s.body = s.pending.pop(0)
        s.frames.append(Frame("hdq" if s.body.quoted else "hd", code=s.body.code))
    else:
        s.body = None


def _end_of_line(s: _Scanner) -> bool:
    """At the end of a here-document line (the line's text is s.line before the newline):
    True when it was the delimiter line, which ends the body."""
    body = s.body
    line = s.line
    if body is None or line is None:
        return False
    if (line.lstrip("\t") if body.strip_tabs else line) != body.delimiter:
        return False
    # shells collect a body line by line before they expand it: the delimiter line ends it
    # even inside a $(...) or a quote that the body left open
    bodies = [i for i, frame in enumerate(s.frames) if frame.kind in ("hd", "hdq")]
    del s.frames[bodies[-1] :]
    s.word = "start"
    _start_bodies(s)
    return True


def _heredoc(s: _Scanner, text: str, i: int, final: bool) -> int:
    c = text[i]
    if c == "\n":
        _end_of_line(s)  # s.line is still the text of the line this newline ends
        return 1
    if s.frames[-1].kind == "hdq":
        return 1
    if c == "\\":
        return 0 if _need(text, i, 1, final) else 2
    if c == "`":
        s.push("bq")
    elif c == "$":
        return _dollar(s, text, i, final, in_double=True)
    return 1


def _single(s: _Scanner, text: str, i: int, final: bool) -> int:
    if text[i] == "'":
        s.pop()
    return 1


def _ansi_c(s: _Scanner, text: str, i: int, final: bool) -> int:
    c = text[i]
    if c == "\\":
        if _need(text, i, 1, final):
            return 0
        if text[i + 1 : i + 2] == "'":
            # bash reads $'a\'b' as one word; dash reads a quote that ends at the backslash
            s.lose("$'...\\'...' (bash and dash read it differently)")
        return 2
    if c == "'":
        s.pop()
    return 1


def _double(s: _Scanner, text: str, i: int, final: bool) -> int:
    c = text[i]
    if c == "\\":
        return 0 if _need(text, i, 1, final) else 2
    if c == '"':
        s.pop()
    elif c == "`":
        s.push("bq")
    elif c == "$":
        return _dollar(s, text, i, final, in_double=True)
    return 1


def _backtick(s: _Scanner, text: str, i: int, final: bool) -> int:
    c = text[i]
    if c == "\\":
        return 0 if _need(text, i, 1, final) else 2
    if c == "`":
        s.pop()
    return 1


def _param(s: _Scanner, text: str, i: int, final: bool) -> int:
    c = text[i]
    frame = s.frames[-1]
    if c == "\\":
        return 0 if _need(text, i, 1, final) else 2
    if c == "}":
        if frame.depth <= 1:
            s.pop()
        else:
            s.frames[-1] = replace(frame, depth=frame.depth - 1)
    elif c == "'":
        if any(f.kind == "dq" for f in s.frames):
            s.lose('a quote inside "${...}" (shells read it differently)')
        s.push("sq")
    elif c == '"':
        s.push("dq")
    elif c == "`":
        s.push("bq")
    elif c == "$":
        return _dollar(s, text, i, final, in_double=False)
    return 1


def _arith(s: _Scanner, text: str, i: int, final: bool) -> int:
    c = text[i]
    frame = s.frames[-1]
    if c == "(":
        s.frames[-1] = replace(frame, depth=frame.depth + 1)
    elif c == ")":
        if frame.depth <= 1:
            s.pop()
        else:
            s.frames[-1] = replace(frame, depth=frame.depth - 1)
    elif c == "$":
        return _dollar(s, text, i, final, in_double=False)
    elif c in "'\"`":
        s.push({"'": "sq", '"': "dq", "`": "bq"}[c])  # type: ignore[arg-type]
    return 1


def _comment(s: _Scanner, text: str, i: int, final: bool) -> int:
    if text[i] == "\n":
        s.frames.pop()
        return _cmd(s, text, i, final)
    return 1


_HANDLERS = {
    "cmd": _cmd,
    "sq": _single,
    "dq": _double,
    "dsq": _ansi_c,
    "bq": _backtick,
    "param": _param,
    "arith": _arith,
    "comment": _comment,
    "hd": _heredoc,
    "hdq": _heredoc,
    "delim": _delim,
}
