from __future__ import annotations

import shlex

import pytest

from jarvisctl.templating import TemplateError, Templates

T = Templates()


def test_injected_host_variable_renders_as_one_quoted_argument() -> None:
    command = T.render_shell("echo {{ x }}", {"x": "x; touch /tmp/pwned"})
    assert command == "echo 'x; touch /tmp/pwned'"
    assert shlex.split(command) == ["echo", "x; touch /tmp/pwned"]


@pytest.mark.parametrize(
    "evil", ["$(reboot)", "`id`", "a' ; rm -rf / ; '", "a\nb", "--help", "*", "a && b"]
)
def test_every_substitution_is_one_argument(evil: str) -> None:
    assert shlex.split(T.render_shell("cmd {{ v }} end", {"v": evil})) == ["cmd", evil, "end"]


def test_filters_apply_before_quoting() -> None:
    assert T.render_shell("echo {{ x | upper }}", {"x": "a b"}) == "echo 'A B'"


def test_raw_opts_out_of_quoting() -> None:
    assert T.render_shell("ls {{ opts | raw }} {{ p }}", {"opts": "-l -a", "p": "/my dir"}) == (
        "ls -l -a '/my dir'"
    )


def test_lists_become_separate_quoted_arguments() -> None:
    assert T.render_shell("rm {{ files }}", {"files": ["a b", "c"]}) == "rm 'a b' c"


def test_values_are_not_quoted() -> None:
    rendered = T.render_value(
        {"path": "{{ base }}/x", "n": [1, "{{ n }}"]}, {"base": "/a b", "n": 3}
    )
    assert rendered == {"path": "/a b/x", "n": [1, "3"]}


def test_text_without_templates_is_untouched() -> None:
    assert T.render_shell("echo $HOME; ls *", {}) == "echo $HOME; ls *"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ nope }}", "undefined variable 'nope'"),
        ("{{ x ", "syntax error"),
        ("{{ x.__class__ }}", "unsafe"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ],
)
def test_template_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        T.render_shell(template, {"x": "s"})
