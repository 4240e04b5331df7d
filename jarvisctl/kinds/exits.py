"""What a command's exit says before its output is read: timed out, a tool missing, a failure.

Shared by the kinds that run tools a host may lack (systemctl, curl, docker, openssl...), so that
every such kind names the missing tool and the package that provides it in the same words.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from jarvisctl.kinds.base import CommandOutput, ParseError

TIMED_OUT = (124, 137)  # coreutils timeout: TERM sent (124), or KILL needed (137)
NOT_FOUND = 127  # sh: the command was not found
# dash: "sh: 1: curl: not found"; bash: "bash: line 1: curl: command not found"
_NOT_FOUND = re.compile(r"(?:^|[\s:])([\w./+-]+): (?:command )?not found\s*$", re.MULTILINE)


def last_line(text: str, limit: int = 200) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def error_tail(output: CommandOutput) -> str:
    """The line most likely to say what went wrong: stderr's last, else stdout's last."""
    return last_line(output.stderr) or last_line(output.stdout)


def missing_tool(output: CommandOutput, packages: Mapping[str, str]) -> ParseError:
    """The error for exit 127, naming the tool sh could not find and the package that has it."""
    found = _NOT_FOUND.findall(output.stderr)
    tool = found[-1] if found else next(iter(packages), "a required tool")
    package = packages.get(tool)
    where = f" (package {package})" if package else ""
    return ParseError(f"{tool} is not installed on the host{where}: exit 127")


def check_exit(
    output: CommandOutput, packages: Mapping[str, str], ok: Collection[int] = (0,)
) -> int:
    """The exit code when it is one of `ok`; otherwise the ParseError that explains it."""
    code = output.exit_code
    if code is None:
        raise ParseError("the command did not exit")
    if code in ok:
        return code
    if code in TIMED_OUT:
        raise ParseError(f"timed out (exit {code}): the command was killed on the host")
    if code == NOT_FOUND:
        raise missing_tool(output, packages)
    tail = error_tail(output)
    raise ParseError(f"command exited {code}" + (f": {tail}" if tail else ""))
