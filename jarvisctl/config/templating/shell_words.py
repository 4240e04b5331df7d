"""Which words of a simple command another interpreter reads as code: `sh -c SCRIPT`, `eval ...`,
`ssh HOST COMMAND...`, `python3 -c CODE`, an awk program, a here-document fed to `sh`.

A value quoted for the shell that reads the command is code again for the interpreter it hands
the word to: `sh -c "echo {{ x }}"` with x = `a; reboot` reboots. The lexer follows the words of
each simple command so that a substitution in such a word is refused. It is a guard for the
usual spellings, not a parser of every program's options (`sed 's/x/{{ x }}/e'` is not caught).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from jarvisctl.core.frozen import frozen

# "": nothing yet; "interpreter": waiting for its script option; "script": the next word that is
# not an option is code; "args": the script was given, the rest are its arguments (data);
# "code": every further word is code; "ssh"/"ssh-arg": ssh's options, before its destination.
Mode = Literal["", "interpreter", "script", "args", "code", "ssh", "ssh-arg"]

# interpreter name -> its options whose argument is the program text
_SCRIPT_OPTIONS = {
    "sh": "c",
    "bash": "c",
    "dash": "c",
    "ash": "c",
    "ksh": "c",
    "mksh": "c",
    "zsh": "c",
    "busybox": "c",
    "su": "c",
    "runuser": "c",
    "python": "c",
    "perl": "eE",
    "ruby": "e",
    "node": "ep",
    "nodejs": "ep",
    "php": "r",
}
_FIRST_ARGUMENT_IS_CODE = frozenset({"awk", "gawk", "mawk", "nawk"})
_ALL_CODE = frozenset({"eval", "watch"})
_SSH_OPTIONS_WITH_ARGUMENT = frozenset("BbcDEeFIiJLlmOoPpQRSWw")
_VERSIONED = re.compile(r"^([a-z]+?)[0-9.]*$")


@frozen
class CommandWords:
    """The words of the simple command being read, as far as interpreters are concerned."""

    mode: Mode = ""
    options: str = ""  # the interpreter's script option letters
    text: str = ""  # unquoted text of the word being read
    code: bool = False  # the word being read is code for another interpreter


@frozen
class Words:
    """What a command's words may be: after template branches, each branch's alternative."""

    alternatives: tuple[CommandWords, ...] = (CommandWords(),)

    @property
    def code(self) -> bool:
        """The word being read is code for another interpreter, in some alternative."""
        return any(words.code for words in self.alternatives)

    @property
    def stdin_is_code(self) -> bool:
        """A here-document on this command is a program: `sh <<EOF`, `ssh host <<EOF`."""
        return any(w.mode in ("interpreter", "code", "ssh") for w in self.alternatives)

    def reading(self, text: str) -> bool:
        return any(words.text == text for words in self.alternatives)

    def start(self, first: str) -> Words:
        """A word starts with `first` ("" when a substitution starts it: it could be anything)."""
        return self._map(lambda words: _start(words, first))

    def add(self, text: str) -> Words:
        return self._map(lambda words: replace(words, text=(words.text + text)[:64]))

    def end(self) -> Words:
        return self._map(_end)

    def merge(self, other: Words) -> Words:
        if other == self:
            return self
        alternatives = tuple(dict.fromkeys((*self.alternatives, *other.alternatives)))
        if len(alternatives) > _MAX_ALTERNATIVES:  # too many branches to follow: be wary
            return Words((CommandWords(mode="code", code=True),))
        return Words(alternatives)

    def _map(self, change: Callable[[CommandWords], CommandWords]) -> Words:
        return Words(tuple(dict.fromkeys(change(words) for words in self.alternatives)))


NO_WORDS = Words()
_MAX_ALTERNATIVES = 16


def _start(words: CommandWords, first: str) -> CommandWords:
    code = words.mode == "code" or (words.mode == "script" and not first.startswith("-"))
    return replace(words, text="", code=code)


def _end(words: CommandWords) -> CommandWords:
    """The word ended: what the words after it are."""
    text, mode = words.text, words.mode
    done = replace(words, text="", code=False)
    if mode == "":
        name = _program(text)
        if name in _SCRIPT_OPTIONS:
            return replace(done, mode="interpreter", options=_SCRIPT_OPTIONS[name])
        if name in _FIRST_ARGUMENT_IS_CODE:
            return replace(done, mode="script")
        if name in _ALL_CODE:
            return replace(done, mode="code")
        if name == "ssh":
            return replace(done, mode="ssh")
        return done
    if mode == "interpreter" and _is_script_option(text, words.options):
        return replace(done, mode="script")
    if mode == "script" and not text.startswith("-") and (text or words.code):
        return replace(done, mode="args")
    if mode == "ssh":
        if len(text) == 2 and text[0] == "-" and text[1] in _SSH_OPTIONS_WITH_ARGUMENT:
            return replace(done, mode="ssh-arg")
        return done if text.startswith("-") else replace(done, mode="code")
    if mode == "ssh-arg":
        return replace(done, mode="ssh")
    return done


def _program(word: str) -> str:
    name = word.rsplit("/", 1)[-1]
    versioned = _VERSIONED.match(name)
    return versioned[1] if versioned and versioned[1] in ("python", "perl", "ruby") else name


def _is_script_option(word: str, letters: str) -> bool:
    return (
        len(word) > 1
        and word[0] == "-"
        and word[1] != "-"
        and word[1:].isalpha()
        and any(letter in word[1:] for letter in letters)
    )
