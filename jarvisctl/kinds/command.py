"""The generic `command` kind: any command, its output parsed as a number, a regex or exit code."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator, model_validator

from jarvisctl.kinds.base import CheckKind, CommandOutput, KindParams, ParseError, require_exit_zero


class CommandParams(KindParams):
    command: str
    parse: Literal["number", "regex", "exit_code"] = "number"
    regex: str | None = None  # with parse: regex, the first group (or the whole match) is the value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _regex_needed(self) -> CommandParams:
        if (self.parse == "regex") != (self.regex is not None):
            raise ValueError("'regex' is required with parse: regex, and only then")
        return self


def _number(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ParseError(f"output is not a number: {text.strip()[:80]!r}") from None


class Command(CheckKind[CommandParams]):
    name = "command"
    description = "Any command; its output parsed as a number, a regex group, or its exit code."
    params_model = CommandParams
    shell_params = frozenset({"command"})

    def command(self, params: CommandParams) -> str:
        return params.command

    def parse(self, output: CommandOutput, params: CommandParams) -> float:
        if params.parse == "exit_code":
            if output.exit_code is None:
                raise ParseError("the command did not exit")
            return float(output.exit_code)
        require_exit_zero(output)
        if params.parse == "number":
            return _number(output.stdout)
        match = re.search(params.regex or "", output.stdout, re.MULTILINE)
        if match is None:
            raise ParseError(f"pattern {params.regex!r} did not match the output")
        return _number(match[1] if match.groups() else match[0])
