"""Flags mean one thing in every command, and an old flag that changed meaning is a usage error
that says what to type now, never a silent different behaviour."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli

# The scheme the README documents (Ansible's where Ansible has the option)
SCHEME = {
    "-i": "--inventory",
    "-l": "--limit",
    "-t": "--tags",
    "-f": "--forks",
    "-C": "--check",
    "-c": "--config",
    "-o": "--output",
    "-n": "--count",
    "-h": "--help",
}


def commands(group: click.Group, path: str = "jarvisctl") -> Iterator[tuple[str, click.Command]]:
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from commands(command, f"{path} {name}")


def visible_flags() -> dict[str, dict[str, set[str]]]:
    """short flag -> its long flag -> the commands where it has it."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for where, command in commands(cli):
        for param in command.get_params(click.Context(command)):
            if not isinstance(param, click.Option) or param.hidden:
                continue
            shorts = [o for o in param.opts if not o.startswith("--")]
            longs = [o for o in param.opts if o.startswith("--")]
            for short in shorts:
                found[short][longs[0] if longs else "(none)"].add(where)
    return found


def test_every_short_flag_means_one_thing_in_every_command() -> None:
    for short, meanings in visible_flags().items():
        assert len(meanings) == 1, f"{short} means {dict(meanings)}"
        (long,) = meanings
        assert SCHEME.get(short) == long, f"{short} is {long} in {meanings[long]}: not in SCHEME"


def test_a_long_flag_means_one_thing_in_every_command() -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for _, command in commands(cli):
        for param in command.get_params(click.Context(command)):
            if isinstance(param, click.Option) and not param.hidden:
                for option in param.opts:
                    if option.startswith("--"):
                        seen[option].add(_meaning(param))
    assert seen["--limit"] == {"host pattern"}, seen["--limit"]


def _meaning(param: click.Option) -> str:
    return "host pattern" if param.type == click.STRING else str(param.type)


def test_the_readme_documents_the_scheme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for short, long in SCHEME.items():
        assert f"`{short}` {long}" in readme, f"README.md: `{short}` {long}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "last", "-f", "html"], "-f no longer means --format: write --format FORMAT"),
        (["runs", "--limit", "5"], "--limit no longer means a number of runs: write -n/--count N"),
    ],
)
def test_an_old_flag_is_a_clear_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_run_takes_ansibles_dash_capital_c_for_check_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "play.yml").write_text(
        "- name: p\n  hosts: all\n  checks:\n    - use: command\n      with: {command: 'echo 1'}\n"
    )
    result = CliRunner().invoke(cli, ["run", "-C", "play.yml"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-3].startswith("CHECK MODE RECAP")
