"""Redaction where text leaves the program: every spelling of a secret, the redacting streams
the CLI's front door installs, files, and where secret_file() may read."""

from __future__ import annotations

import dataclasses
import html
import io
import json
import os
import shlex
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import click
import pytest
from click.testing import CliRunner

from jarvisctl.cli.common import report_errors
from jarvisctl.cli.main import cli
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.core.secrets import MASK, PARTIAL_MIN, Redactor, SecretValues
from jarvisctl.render.redacting import RedactingStream, redacted_output, write_redacted

SECRET = "S3cr'\\\"$x é/ü`"  # a quote, a backslash, a double quote, a dollar, a space, non-ASCII
CORE = "S3cr"  # no encoding changes letters and digits: if this shows, a spelling leaked


def independent_spellings(secret: str) -> dict[str, str]:
    """How the standard encoders write the secret, computed here, not by the code under test."""
    quoted = shlex.quote(secret)
    element = ET.Element("e", a=secret)
    element.text = secret
    xml_text = ET.tostring(element, encoding="unicode")
    return {
        "plain": secret,
        "shell": quoted,
        "single quotes": secret.replace("'", "'\\''"),
        "double quotes": "".join("\\" + c if c in '\\"$`' else c for c in secret),
        "here-document": "".join("\\" + c if c in "\\$`" else c for c in secret),
        "json": json.dumps(secret),
        "json unicode": json.dumps(secret, ensure_ascii=False),
        "json of shell": json.dumps(quoted),
        "repr": repr(secret),
        "ascii": ascii(secret),
        "repr of shell": repr(quoted),
        "json of repr": json.dumps(repr(secret)),
        "unicode_escape": secret.encode("unicode_escape").decode(),
        "xml": xml_text,
        "html": html.escape(secret),
        "html of repr": html.escape(repr(secret)),
        "prometheus": secret.replace("\\", "\\\\").replace('"', '\\"'),
        "url": quote(secret, safe=""),
    }


@pytest.mark.parametrize("form", sorted(independent_spellings(SECRET)))
def test_every_spelling_is_redacted_inside_text(form: str) -> None:
    spelt = independent_spellings(SECRET)[form]
    redacted = Redactor(frozenset({SECRET})).text(f"before {spelt} after")
    assert CORE not in redacted, redacted
    assert redacted.startswith("before ") and redacted.endswith(" after")


def test_the_longest_secret_wins_and_short_values_are_left_alone() -> None:
    redactor = Redactor(frozenset({"abc", "abcdef", "on", "  x "}))
    assert redactor.text("abcdef abc on   x  ") == f"{MASK} {MASK} on   x  "


def test_a_secret_without_letters_or_digits_is_still_redacted() -> None:
    assert Redactor(frozenset({"!@#$%"})).text("a !@#$% b") == f"a {MASK} b"


def test_a_long_secret_is_redacted_quickly() -> None:
    key = "\n".join("ABCDEFGHIJ'\"$" * 5 for _ in range(60))  # a PEM-like block, quotes inside
    redactor = Redactor(frozenset({key}))
    text = "log " * 100_000 + json.dumps(key) + " tail"
    assert redactor.text(text).endswith(f'"{MASK}" tail')


def test_secret_values_know_new_secrets_at_once() -> None:
    secrets = SecretValues()
    assert secrets.redactor().text(SECRET) == SECRET
    secrets.add({"a": [SECRET, 1]})
    assert secrets.redactor().text(SECRET) == MASK


def test_the_stream_redacts_a_secret_written_in_pieces() -> None:
    inner = io.StringIO()
    secrets = SecretValues()
    stream = RedactingStream(inner, secrets)
    secrets.add(SECRET)
    print("x", SECRET[:4], file=stream, end="")
    print(SECRET[4:], "y", file=stream)
    assert inner.getvalue() == f"x {MASK} y\n"
    stream.write("no newline " + SECRET)
    assert inner.getvalue() == f"x {MASK} y\n"
    stream.flush()
    assert inner.getvalue().endswith(f"no newline {MASK}")


def test_the_front_door_redacts_sys_streams_and_puts_them_back() -> None:
    before = sys.stdout, sys.stderr
    secrets = SecretValues()
    with redacted_output(secrets):
        assert isinstance(sys.stdout, RedactingStream) and isinstance(sys.stderr, RedactingStream)
    assert (sys.stdout, sys.stderr) == before


def test_files_are_written_redacted_atomically_with_the_umask(tmp_path: Path) -> None:
    secrets = SecretValues()
    secrets.add(SECRET)
    target = tmp_path / "out.json"
    write_redacted(target, json.dumps({"k": SECRET}), secrets)
    assert json.loads(target.read_text()) == {"k": MASK}
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_secret_file_reads_inside_the_project_and_secret_dirs(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "vault"
    (project / "secrets").mkdir(parents=True)
    elsewhere.mkdir()
    (project / "secrets" / "db").write_text("in-project\n")
    (elsewhere / "api").write_text("in-vault\n")
    templates = Templates(project, secret_dirs=(elsewhere,))
    assert templates.render_value("{{ secret_file('secrets/db') }}", {}) == "in-project"
    assert templates.render_value(f"{{{{ secret_file('{elsewhere}/api') }}}}", {}) == "in-vault"


@pytest.mark.parametrize(
    "path", ["/etc/shadow", "../outside", "link-out", "secrets/../../outside", "/etc/passwd"]
)
def test_secret_file_refuses_what_is_outside(tmp_path: Path, path: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "outside").write_text("outside-content\n")
    (project / "link-out").symlink_to(tmp_path / "outside")
    (project / "secrets").mkdir()
    templates = Templates(project, secret_dirs=(project / "secrets",))
    with pytest.raises(TemplateError) as caught:
        templates.render_value(f"{{{{ secret_file('{path}') }}}}", {})
    message = str(caught.value)
    assert "outside the directories secrets are read from" in message, message
    assert str(project) in message and "secret_dirs in jarvisctl.yml" in message
    assert "outside-content" not in message and "root:" not in message
    assert templates.secrets.frozen() == frozenset()


def test_secret_file_refuses_a_fifo_a_directory_and_a_huge_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "huge").write_bytes(b"x" * (64 * 1024 + 1))
    templates = Templates(tmp_path)
    for name, reason in [("fifo", "not a regular file"), ("huge", "over 65536 bytes")]:
        with pytest.raises(TemplateError, match=reason):
            templates.render_value(f"{{{{ secret_file('{name}') }}}}", {})
    with pytest.raises(TemplateError, match="cannot read"):
        templates.render_value("{{ secret_file('dir') }}", {})


def test_secret_dirs_is_validated(tmp_path: Path) -> None:
    (tmp_path / "jarvisctl.yml").write_text("secret_dirs: ['/']\n")
    (tmp_path / "p.yml").write_text("- {name: p, hosts: all}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["plan", "p.yml"])
    assert result.exit_code == 3
    assert "jarvisctl.yml:1:14:" in result.stderr and "every file" in result.stderr


@pytest.mark.parametrize("entry", ["missing", "a-file"])
def test_a_secret_dir_that_is_not_a_directory_is_a_located_error(
    tmp_path: Path, entry: str
) -> None:
    (tmp_path / "a-file").write_text("")
    (tmp_path / "jarvisctl.yml").write_text(f"forks: 2\nsecret_dirs:\n  - {entry}\n")
    (tmp_path / "p.yml").write_text("- {name: p, hosts: all}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["plan", "p.yml"])
    assert result.exit_code == 3
    what = "does not exist" if entry == "missing" else "is not a directory"
    assert f"jarvisctl.yml:3:5: secret_dirs: '{entry}' {what}" in result.stderr


def _leaf_commands(command: click.Command, path: str = "") -> Iterator[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None
            yield from _leaf_commands(sub, f"{path} {name}".strip())
    else:
        yield path, command


def _wrapped_in(command: click.Command, code: object) -> bool:
    function = command.callback
    while function is not None:  # click's pass_obj may wrap it again
        if getattr(function, "__code__", None) is code:
            return True
        function = getattr(function, "__wrapped__", None)
    return False


def test_every_command_runs_inside_the_redacting_front_door() -> None:
    """A command without report_errors would write its output unredacted."""
    leaves = dict(_leaf_commands(cli))
    assert {"plan", "run", "daemon", "inventory show", "report"} <= set(leaves)
    front_door = report_errors(lambda: None).__code__  # every wrapper runs this code
    outside = [name for name, command in leaves.items() if not _wrapped_in(command, front_door)]
    assert outside == []


def test_a_bug_s_traceback_and_a_usage_error_are_redacted_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JV_TOKEN", SECRET)
    (tmp_path / "p.yml").write_text(
        "- name: p\n  hosts: all\n  checks:\n    - name: c\n      use: command\n"
        "      with: {command: \"echo {{ env('JV_TOKEN') }}\"}\n"
    )
    monkeypatch.chdir(tmp_path)

    def broken(plan: object) -> str:
        raise RuntimeError(f"a bug shows {SECRET!r} and {json.dumps(SECRET)}")

    monkeypatch.setattr("jarvisctl.cli.plan.render_plan", broken)
    result = CliRunner().invoke(cli, ["plan", "p.yml"])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "RuntimeError: a bug shows" in result.stderr
    assert CORE not in result.stderr and MASK in result.stderr

    def usage(plan: object) -> str:
        raise click.UsageError(f"usage mistake {SECRET}")

    monkeypatch.setattr("jarvisctl.cli.plan.render_plan", usage)
    result = CliRunner().invoke(cli, ["plan", "p.yml"])
    assert result.exit_code == 2
    assert f"usage mistake {MASK}" in result.stderr


def test_a_tail_cut_inside_a_secret_has_the_secret_s_end_masked() -> None:
    @dataclasses.dataclass(frozen=True)
    class Result:
        stdout_tail: str

    output = f"login {SECRET}\n" + "x" * 390 + "\n"
    for cut in (3, 8):  # the tail starts after the secret's first 3, then 8, characters
        tail = output[output.index(SECRET) + cut :]
        redacted = Redactor(frozenset({SECRET})).value(Result(tail)).stdout_tail
        assert redacted == MASK + "\n" + "x" * 390 + "\n"
    # an end shorter than PARTIAL_MIN is left alone: it tells little, and would mask by chance
    short = SECRET[-PARTIAL_MIN + 1 :] + " rest"
    assert Redactor(frozenset({SECRET})).value([short]) == [short]
