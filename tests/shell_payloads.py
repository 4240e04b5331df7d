"""Hostile values and the shell contexts a template can put them in, shared by the unit tests
(rendered and run with sh, dash, bash and busybox sh) and the end-to-end test (a real run over
SSH and on the local host).

Every payload tries to run `touch MARKER`; a test fails if the marker file appears. Each context
is a command template that writes `{{ v }}` to standard output through the context, together
with what it must print: the value itself, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass


def payloads(marker: str) -> list[str]:
    """Values that break out of one quoting or another if it is done wrong."""
    touch = f"touch {marker}"
    return [
        f"x$({touch})",
        f"`{touch}`",
        f'"; {touch}; "',
        f"'; {touch}; '",
        f'\\"; {touch}; \\"',
        f"\\'; {touch}; \\'",
        f"a\n{touch}\nb",
        f"a\r\n{touch}",
        f"$'\\x27'; {touch}; '",
        f";${{IFS}}{touch.replace(' ', '${IFS}')}",
        "a\\\\b\\ ends with a backslash \\",
        f"unicode é ü 中文 ‮ $({touch})",
        f"EOF\n{touch}\nEOF",
        f"\tEOF\n{touch}",
        f"x; {touch} # comment",
        f"a=b {touch}",
        "if",
        "~root * ? [a] {a,b} !x #x &x |x >x <x",
        "",
        f"$(({touch}))",
        f"${{x:-$({touch})}}",
        f"*/ ) ; {touch} ; ( {{",
    ]


@dataclass(frozen=True)
class ShellCase:
    """A command template with `{{ v }}` in one context, and how what it prints relates to v."""

    name: str
    template: str
    # what the command prints, given the value (None: the value may be refused here)
    prefix: str = ""
    suffix: str = ""
    strip_trailing_newlines: bool = False  # $(...) drops them
    refused_when: str = ""  # a substring that makes a value unsafe here (then: a refusal)

    def expected(self, value: str) -> str:
        text = value.rstrip("\n") if self.strip_trailing_newlines else value
        return self.prefix + text + self.suffix


CASES = [
    ShellCase("outside quotes", "printf '%s' {{ v }}"),
    ShellCase("outside quotes, glued", "printf '%s' pre{{ v }}post", "pre", "post"),
    ShellCase("double quotes", "printf '%s' \"{{ v }}\""),
    ShellCase("double quotes, text around", "printf '%s' \"a {{ v }} b\"", "a ", " b"),
    ShellCase("single quotes", "printf '%s' '{{ v }}'"),
    ShellCase("single quotes, text around", "printf '%s' 'a {{ v }} b'", "a ", " b"),
    ShellCase("assignment", "x={{ v }}; printf '%s' \"$x\""),
    ShellCase("quoted assignment", 'x="{{ v }}"; printf \'%s\' "$x"'),
    ShellCase(
        "command substitution",
        "printf '%s' \"$(printf '%s' {{ v }})\"",
        strip_trailing_newlines=True,
    ),
    ShellCase(
        "double quotes in a command substitution",
        "printf '%s' \"$(printf '%s' \"{{ v }}\")\"",
        strip_trailing_newlines=True,
    ),
    ShellCase(
        "single quotes in a command substitution in double quotes",
        "printf '%s' \"$(printf '%s' '{{ v }}')\"",
        strip_trailing_newlines=True,
    ),
    ShellCase("here-document", "cat <<EOF\n{{ v }}\nEOF", suffix="\n", refused_when="EOF"),
    ShellCase("quoted here-document", "cat <<'EOF'\n{{ v }}\nEOF", suffix="\n", refused_when="EOF"),
    ShellCase(
        "here-document, text around",
        'cat <<"END"\n<{{ v }}>\nEND',
        prefix="<",
        suffix=">\n",
        refused_when="END",
    ),
    ShellCase("comment", "true # {{ v }}\nprintf ok", refused_when="\n"),
    ShellCase("if branch", "if true; then printf '%s' \"{{ v }}\"; fi"),
    ShellCase(
        "template branch",
        "printf '%s' {% if v is string %}\"{{ v }}\"{% else %}none{% endif %}",
    ),
    ShellCase("template loop", "{% for i in [1] %}printf '%s' '{{ v }}'; {% endfor %}"),
    ShellCase("quote filter in double quotes", "printf '%s' \"{{ v | quote }}\""),
]


def expected_output(case: ShellCase, value: str) -> str:
    return "ok" if case.name == "comment" else case.expected(value)


def refused(case: ShellCase, value: str) -> bool:
    """Whether a case may refuse this value (a value that would end its here-document or
    comment); everything else must render."""
    return bool(case.refused_when) and case.refused_when in value
