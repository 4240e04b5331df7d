from __future__ import annotations

import shlex
import time
import tracemalloc

import pytest

from jarvisctl.config.templating.templates import TemplateError, Templates

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


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'a' * 10**9 }}", "'*' would build 1,000,000,000 characters"),
        ("{{ [1] * 10**9 }}", "'*' would build 1,000,000,000 items"),
        ("{{ 10**9 * 'a' }}", "'*' would build"),
        ("{{ 2 ** 10000000 }}", "'**' would build"),
        ("{{ '%0*d' % (10**9, 1) }}", "'%' formatting would build"),
        ("{{ '%01000000000d' % 1 }}", "'%' formatting would build"),
        ("{{ '%.1000000000f' % 1.5 }}", "'%' formatting would build"),
        ("{{ '%0*d' | format(10**9, 1) }}", "would build"),
        ("{{ '{:>1000000000}'.format(1) }}", "format spec"),
        ("{{ '{:>{w}}'.format(1, w=10**9) }}", "format spec"),
        ("{{ 'a' | center(10**9) }}", "center(1000000000)"),
        ("{{ 'a' | indent(10**9) }}", "indent(1000000000)"),
        ("{{ 'a'.ljust(10**9) }}", "ljust(1000000000)"),
        ("{{ ('\t' * 1000).expandtabs(10**6) }}", "expandtabs"),
        ("{{ ('a' * 100000) | replace('', 'bbbbbbbbbbbbbbbbbbbb') }}", "replace"),
        ("{{ range(100000) | join('x' * 100) }}", "join"),
        ("{{ range(10) | slice(10**9) | list }}", "slice(1000000000)"),
        ("{% for i in range(10**9) %}x{% endfor %}", "MAX_RANGE"),
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "more than 200,000 loop iterations",
        ),
        ("{% for a in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "(1 MiB)"),
        ("{% for a in range(100000) %}" + "x" * 100 + "{% endfor %}", "(1 MiB)"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "nests calls more than 40 deep"),
        (
            "{% macro m(n) %}{% if n %}{% set a = m(n-1) %}{% set b = m(n-1) %}{% endif %}"
            "{% endmacro %}{{ m(30) }}",
            "more than 200,000 loop iterations (a call counts 10)",
        ),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "'~' would build",
        ),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}",
            "'+' would build",
        ),
        (
            "{% set l = [1] %}{% for i in range(64) %}{{ l.extend(l) }}{% endfor %}",
            "extend() would build",
        ),
        ("{{ lipsum(n=10**6) }}", "undefined variable 'lipsum'"),
        ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "nests calls"),
    ],
)
@pytest.mark.parametrize("mode", ["shell", "value"])
def test_a_template_cannot_build_without_bound(template: str, message: str, mode: str) -> None:
    """Each refused fast, in bounded memory, as a template error (located by its caller)."""
    render = T.render_shell if mode == "shell" else T.render_value
    started = time.monotonic()
    with pytest.raises(TemplateError) as raised:
        render(template, {})
    assert time.monotonic() - started < 3
    assert message in str(raised.value)
    if "macro" in template or "{% for b" in template:
        return  # spends CPU, not memory; tracing 20,000 calls would take seconds
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError):
            render(template, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20


def test_the_output_limit_is_said_in_the_message() -> None:
    big = "x" * 600_000
    with pytest.raises(TemplateError, match=r"longer than 1,048,576 characters \(1 MiB\)"):
        T.render_value("{{ a }}{{ a }}", {"a": big})
    assert len(T.render_value("{{ a }}", {"a": big})) == 600_000


def test_ordinary_templates_stay_within_the_limits() -> None:
    template = "{% for h in hosts %}{{ h | upper }}:{{ '%05d' % loop.index }} {% endfor %}"
    assert T.render_value(template, {"hosts": ["a", "b"]}) == "A:00001 B:00002 "
    assert T.render_value("{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ '{:>5}'.format(1) }}", {}) == (
        "ababab 1024     1"
    )
