"""Each substitution is quoted for the shell context it stands in, proven by running the rendered
commands with every POSIX shell on the machine: no payload may create the marker file, and each
command prints the value exactly as it was given."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jarvisctl.config.templating.templates import TemplateError, Templates
from tests.shell_payloads import CASES, ShellCase, expected_output, payloads, refused

T = Templates()


def _shells() -> list[list[str]]:
    found = [["/bin/sh"]]
    for name in ("dash", "bash"):
        path = shutil.which(name)
        if path:
            found.append([path])
    busybox = shutil.which("busybox")
    if busybox:
        found.append([busybox, "sh"])
    return found


SHELLS = _shells()


def _render_all(marker: Path) -> tuple[list[tuple[ShellCase, str, str]], list[str]]:
    """Every case with every payload: the commands that render, and the refusals."""
    rendered: list[tuple[ShellCase, str, str]] = []
    problems: list[str] = []
    for case in CASES:
        for value in payloads(str(marker)):
            try:
                command = T.render_shell(case.template, {"v": value})
            except TemplateError as exc:
                if not refused(case, value):
                    problems.append(f"{case.name}: {value!r} refused: {exc}")
                continue
            rendered.append((case, value, command))
    return rendered, problems


@pytest.mark.parametrize("shell", SHELLS, ids=lambda argv: " ".join(argv))
def test_no_payload_runs_and_each_prints_its_value(shell: list[str], tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    rendered, problems = _render_all(marker)
    assert problems == []
    # one script per shell: each command, then a line of its own that closes its section
    script = "".join(
        f"{command}\nprintf '\\n@@%s@@\\n' {index}\n"
        for index, (_, _, command) in enumerate(rendered)
    )
    done = subprocess.run(
        [*shell, "-c", script], cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    assert not marker.exists(), f"{shell}: payloads ran: {_culprits(shell, rendered, marker)}"
    output = done.stdout.decode()
    position = 0
    for index, (case, value, command) in enumerate(rendered):
        end = output.find(f"\n@@{index}@@\n", position)
        assert end >= 0, f"{shell} {case.name} {value!r}: no end mark; ran {command!r}"
        printed = output[position:end]
        assert printed == expected_output(case, value), (case.name, value, command)
        position = end + len(f"\n@@{index}@@\n")
    assert done.returncode == 0, done.stderr


def _culprits(
    shell: list[str], rendered: list[tuple[ShellCase, str, str]], marker: Path
) -> list[str]:
    """Which commands create the marker, each run alone (only when one of them did)."""
    found = []
    for case, value, command in rendered:
        marker.unlink(missing_ok=True)
        subprocess.run([*shell, "-c", command], cwd=marker.parent, capture_output=True, timeout=10)
        if marker.exists():
            found.append(f"{case.name}: {value!r} -> {command!r}")
    return found


def test_the_issue_payloads_render_as_literal_text() -> None:
    svc = "x$(touch /tmp/p)"
    assert T.render_shell('echo "{{ svc }}"', {"svc": svc}) == 'echo "x\\$(touch /tmp/p)"'
    label = "a; touch /tmp/p"
    assert T.render_shell("echo '{{ label }}'", {"label": label}) == "echo 'a; touch /tmp/p'"
    assert T.render_shell("echo '{{ q }}'", {"q": "it's"}) == "echo 'it'\\''s'"


@pytest.mark.parametrize(
    ("template", "value", "rendered"),
    [
        ('echo "{{ v }}"', 'a"b\\c$d`e`', 'echo "a\\"b\\\\c\\$d\\`e\\`"'),
        ("cat <<EOF\n{{ v }}\nEOF\n", 'a$b`c`\\d"e', 'cat <<EOF\na\\$b\\`c\\`\\\\d"e\nEOF\n'),
        ("cat <<'EOF'\n{{ v }}\nEOF\n", "a$b`c`\\d", "cat <<'EOF'\na$b`c`\\d\nEOF\n"),
        ("true # {{ v }}", "a; b", "true # a; b"),
        ('echo "{{ v | quote }}"', "a b", 'echo "a b"'),
        ("echo {{ v | quote }}", "a b", "echo 'a b'"),
        ("echo {{ v }}", "a=b", "echo 'a=b'"),  # never an assignment
        ("{{ v }} x", "if", "'if' x"),  # never a reserved word
        ('echo "${HOME}{{ v }}"', "x", 'echo "${HOME}x"'),
        ("echo $(( {{ v | raw }} + 1 ))", "2", "echo $(( 2 + 1 ))"),
        ("echo {{ v | raw }}", "$HOME", "echo $HOME"),
        ('echo "{{ v | raw }}"', "$HOME", 'echo "$HOME"'),
    ],
)
def test_rendered_text(template: str, value: str, rendered: str) -> None:
    assert T.render_shell(template, {"v": value}) == rendered


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("echo `{{ v }}`", "inside backquotes"),
        ('echo "`{{ v }}`"', "inside backquotes"),
        ('echo "${X:-{{ v }}}"', "inside ${...}"),
        ("echo ${x%{{ v }}}", "inside ${...}"),
        ("echo $(( {{ v }} + 1 ))", "arithmetic"),
        ("(( {{ v }} > 1 ))", "arithmetic"),
        ("echo $'{{ v }}'", "inside $'...'"),
        ("cat <<{{ v }}\nx\n", "delimiter"),
        ("cat <<E{{ v }}\nx\n", "delimiter"),
        ("echo $HOME{{ v }}", "variable name"),
        ('echo "$HOME{{ v }}"', "variable name"),
        ("echo ${{ v }}", "variable name"),
        ("echo \\{{ v }}", "backslash"),
        ('echo "\\{{ v }}"', "backslash"),
        ('echo {% if x %}"{% endif %}{{ v }}', "{% if %} block on template line 1"),
        ("echo {% for i in x %}'{% endfor %}", "{% for %} block"),
        ("cat <<EOF\n{% if x %}EOF\n{% endif %}{{ v }}\n", "{% if %} block"),
        ("{% if x %}#{% endif %}{{ v }}", "{% if %} block"),
        ("echo $'a\\'b' {{ v }}", "bash and dash read it differently"),
        ("echo \"${x#'a'}\" {{ v }}", "shells read it differently"),
        ("x=$(case a in a) echo {{ v }};; esac)", "'case' inside $(...)"),
        ("{% filter upper %}{{ v }}{% endfilter %}", "{% filter %} block"),
        ("{% macro m() %}{{ v }}{% endmacro %}{% call m() %}{% endcall %}", "{% call %} block"),
    ],
)
def test_contexts_that_cannot_be_quoted_are_refused(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        T.render_shell(template, {"v": "x", "x": [1]})
    assert message in str(raised.value)


def test_a_refusal_says_how_to_write_it_and_names_the_substitution() -> None:
    with pytest.raises(TemplateError) as raised:
        T.render_shell("echo ok\necho `cat {{ path }}`", {"path": "/x"})
    text = str(raised.value)
    assert "{{ path }} (template line 2)" in text
    assert 'write $(...) instead: "$(cmd {{ x }})"' in text


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("cat <<'EOF'\n{{ v }}\nEOF\n", "a\nEOF\ntouch x"),
        ("cat <<EOF\n{{ v }}\nEOF\n", "EOF"),
        ("cat <<EOF\nE{{ v }}\nEOF\n", "OF\ntouch x"),
        ("cat <<EOF\n{{ v }}F\nEOF\n", "x\nEO"),
        ("cat <<-EOF\n{{ v }}\nEOF\n", "x\n\t\tEOF\ntouch x"),
        ("cat <<EOF\n{{ v }}{{ w }}\nEOF\n", "E"),  # with another value after it on its line
        ("true # {{ v }}", "a\ntouch x"),
    ],
)
def test_values_that_would_end_a_here_document_or_comment_are_refused(
    template: str, value: str
) -> None:
    with pytest.raises(TemplateError, match="would end"):
        T.render_shell(template, {"v": value, "w": "OF"})


def test_a_value_like_the_delimiter_but_not_a_line_of_it_is_written() -> None:
    rendered = T.render_shell("cat <<EOF\n{{ v }}\nEOF\n", {"v": "EOFX\nxEOF"})
    assert rendered == "cat <<EOF\nEOFX\nxEOF\nEOF\n"


def test_raw_text_must_leave_the_quoting_as_it_found_it() -> None:
    with pytest.raises(TemplateError, match="must leave the quoting as it found it"):
        T.render_shell("echo {{ v | raw }} {{ w }}", {"v": "'", "w": "x"})
    assert T.render_shell("ls {{ v | raw }} {{ w }}", {"v": "-l 'a b'", "w": "x"}) == (
        "ls -l 'a b' x"
    )


def test_only_raw_text_may_stand_where_nothing_else_can() -> None:
    template = "echo $(( {% if n %}{{ n | raw }}{% endif %} + 1 ))"
    assert T.render_shell(template, {"n": 2}) == "echo $(( 2 + 1 ))"


def test_branches_that_agree_on_quoting_are_fine() -> None:
    template = "echo {% if x %}\"{{ v }}\"{% elif y %}'{{ v }}'{% else %}{{ v }}{% endif %}"
    assert T.render_shell(template, {"x": 0, "y": 1, "v": "a'b"}) == "echo 'a'\\''b'"
    assert T.render_shell(template, {"x": 1, "y": 0, "v": 'a"b'}) == 'echo "a\\"b"'


@pytest.mark.parametrize(
    "template",
    [
        "sh -c {{ v }}",
        "sh -c 'echo {{ v }}'",
        'bash -lc "echo {{ v }}"',
        "sudo -u app sh -e -c 'echo {{ v }}'",
        "timeout 5 /bin/busybox sh -c 'x={{ v }}'",
        'sh -c "$(echo {{ v }})"',
        "eval echo {{ v }}",
        'eval "echo {{ v }}"',
        "ssh -p 22 host 'echo {{ v }}'",
        "ssh host echo {{ v }}",
        "sh <<EOF\necho {{ v }}\nEOF\n",
        "sh <<EOF\necho $(echo {{ v }})\nEOF\n",
        "ssh host <<'EOF'\necho {{ v }}\nEOF\n",
        "su - postgres -c 'psql -c {{ v }}'",
        "python3 -c 'print(\"{{ v }}\")'",
        "perl -e 'print \"{{ v }}\"'",
        "awk '{ print \"{{ v }}\" }' /etc/hosts",
        "{% if v %}sh -c{% else %}bash -c{% endif %} 'echo {{ v }}'",
    ],
)
def test_a_value_handed_to_another_interpreter_as_code_is_refused(template: str) -> None:
    """Quoted for the shell that reads the command, the value would be code again for the
    interpreter that command hands it to."""
    with pytest.raises(TemplateError, match="another interpreter runs as code"):
        T.render_shell(template, {"v": "x"})


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("sh -c 'echo \"$1\"' sh {{ v }}", "sh -c 'echo \"$1\"' sh 'a b'"),
        ("grep -c {{ v }} /etc/hosts", "grep -c 'a b' /etc/hosts"),
        ("bash /opt/job.sh {{ v }}", "bash /opt/job.sh 'a b'"),
        ("ssh -i {{ v }} host true", "ssh -i 'a b' host true"),
        ("sh -c 'true'; echo {{ v }}", "sh -c 'true'; echo 'a b'"),
        ("awk '{ print $1 }' {{ v }}", "awk '{ print $1 }' 'a b'"),
        ("cat <<EOF | sort\n{{ v }}\nEOF\n", "cat <<EOF | sort\na b\nEOF\n"),
    ],
)
def test_arguments_of_an_interpreter_are_data(template: str, rendered: str) -> None:
    assert T.render_shell(template, {"v": "a b"}) == rendered
