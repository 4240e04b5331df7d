"""Hostile files and YAML: every one is refused at its location with exit 3, quickly.

Issue 14 item 3: FIFOs, directories, dangling links, symlink loops, unreadable files and
devices where configuration is read; alias bombs, recursive aliases, deep nesting, control
characters, huge integers, lone surrogates; host ranges that would expand without end.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest
import yaml

from jarvisctl.config import yamlsrc
from jarvisctl.config.configfile import MAX_CONFIG_BYTES, read_config_text
from jarvisctl.config.inventory.hostnames import MAX_HOSTS, expand_host_entry
from jarvisctl.config.yamlbounds import MAX_ALIAS_NODES, MAX_DEPTH
from jarvisctl.core.errors import ConfigError, Location, Problem
from jarvisctl.core.secrets import Redactor
from tests.hostile import copy_project, jarvisctl_subprocess, plan_in_process

PLAYBOOK = "playbooks/health.yml"
INVENTORY = "inventory/local.yml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def errors(project: Path, *args: str) -> list[str]:
    outcome = plan_in_process(args or (PLAYBOOK,), project, seconds=10)
    assert outcome.exit_code == 3, outcome.stdout + outcome.stderr
    assert outcome.verdict(project) == "located", outcome.stderr
    return [line for line in outcome.stderr.splitlines() if line.startswith("error: ")]


# --- files that are not regular files ------------------------------------------------------


def test_a_fifo_as_a_catalogue_entry_playbook_inventory_or_config_never_blocks(
    project: Path,
) -> None:
    os.mkfifo(project / "checks/waiting.yml")
    assert errors(project) == [
        "error: checks/waiting.yml: is a named pipe (FIFO) (expected a regular file)"
    ]
    (project / "checks/waiting.yml").unlink()
    os.mkfifo(project / "pipe.yml")
    assert errors(project, "pipe.yml") == [
        "error: pipe.yml: is a named pipe (FIFO) (expected a regular file)"
    ]
    assert errors(project, PLAYBOOK, "-i", "pipe.yml") == [
        "error: pipe.yml: is a named pipe (FIFO) (expected a regular file)"
    ]
    (project / "jarvisctl.yml").unlink()
    os.mkfifo(project / "jarvisctl.yml")  # found by the upward search, not skipped
    assert errors(project) == [
        "error: jarvisctl.yml: is a named pipe (FIFO) (expected a regular file)"
    ]


def test_a_directory_named_like_an_entry_is_reported_not_skipped(project: Path) -> None:
    (project / "checks/broken.yml").mkdir()
    (project / "remediations/also.yaml").mkdir()
    assert errors(project) == [
        "error: checks/broken.yml: is a directory (expected a regular file)",
        "error: remediations/also.yaml: is a directory (expected a regular file)",
    ]


def test_links_that_lead_nowhere_are_named_as_written(project: Path) -> None:
    (project / "checks/loop.yml").symlink_to("loop.yml")
    (project / "remediations/gone.yml").symlink_to("nowhere.yml")
    (project / "checks/zero.yml").symlink_to("/dev/zero")
    assert errors(project) == [
        "error: checks/loop.yml: cannot read: too many levels of symbolic links "
        "(a symlink loop? point it at a file)",
        "error: checks/zero.yml: is a character device (expected a regular file)",
        "error: remediations/gone.yml: cannot read: a dangling symbolic link to 'nowhere.yml'",
    ]


def test_a_catalogue_directory_that_leads_nowhere(project: Path) -> None:
    shutil.rmtree(project / "checks")
    (project / "checks").symlink_to("checks")
    assert errors(project) == [
        "error: checks: cannot read: too many levels of symbolic links "
        "(expected a directory of checks)"
    ]
    (project / "checks").unlink()
    os.mkfifo(project / "checks")
    assert errors(project) == [
        "error: checks: is a named pipe (FIFO) (expected a directory of checks)"
    ]
    (project / "checks").unlink()
    (project / "checks").write_text("a file of that name is someone else's\n")
    assert plan_in_process([PLAYBOOK], project).exit_code == 0


def test_names_too_long_for_the_filesystem(project: Path) -> None:
    """Found by the generator: Path.is_dir() raises ENAMETOOLONG (Python ignores only a few
    errnos), from jarvisctl.yml's playbooks and catalogue entries."""
    long = "x" * 5000
    (project / "jarvisctl.yml").write_text(
        f"playbooks: [{long}]\ncatalogue: {{checks: [{long}]}}\n"
    )
    (line,) = errors(project)
    assert line.startswith("error: jarvisctl.yml:2:22: catalogue directory 'xxxx")
    assert line.endswith(
        f"' does not exist (a directory of check definitions, relative to {project.resolve()})"
    )
    (project / "jarvisctl.yml").write_text(f"playbooks: [{long}]\n")
    assert plan_in_process([PLAYBOOK], project).exit_code == 0  # the others' checks: skipped
    outcome = plan_in_process([long], project)  # no such file can exist: not errors()
    assert (outcome.exit_code, outcome.stderr.splitlines()[0]) == (
        3,
        f"error: {long}: cannot read: the path is too long",
    )


def test_the_schedule_of_a_playbook_name_too_long(project: Path) -> None:
    (project / "jarvisctl.yml").write_text(f"playbooks: [{'x' * 5000}]\n")
    outcome = jarvisctl_subprocess(["schedule", "list"], project)
    assert outcome.exit_code == 3, outcome.stderr
    assert outcome.stderr.startswith("error: jarvisctl.yml:1:13: playbooks: 'xxxx")


def test_a_socket_and_a_device_as_playbooks(project: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(project / "sock.yml"))
        assert errors(project, "sock.yml") == [
            "error: sock.yml: is a socket (expected a regular file)"
        ]
    assert errors(project, "/dev/zero") == [
        "error: /dev/zero: is a character device (expected a regular file)"
    ]


def test_a_playbook_directory_lists_every_entry(project: Path) -> None:
    (project / "more").mkdir()
    shutil.copy(project / PLAYBOOK, project / "more/health.yml")
    os.mkfifo(project / "more/stuck.yml")
    (project / "more/sub.yml").mkdir()
    assert errors(project, "more") == [
        "error: more/stuck.yml: is a named pipe (FIFO) (expected a regular file)",
        "error: more/sub.yml: is a directory (expected a regular file)",
    ]


def test_variable_files_that_cannot_be_read_are_reported(project: Path) -> None:
    group_vars = project / "inventory/group_vars"
    os.mkfifo(group_vars / "all.yml")
    (group_vars / "jetsons").mkdir()
    (group_vars / "jetsons/up").symlink_to("..")  # a loop back up the tree
    shutil.move(group_vars / "jetsons.yml", group_vars / "jetsons/main.yml")
    assert errors(project, "playbooks/jetson-health.yml", "-i", "inventory/jetson-fleet.yml") == [
        "error: inventory/group_vars/all.yml: is a named pipe (FIFO) (expected a regular file)",
        "error: inventory/group_vars/jetsons/up: is a symbolic link to a directory above it "
        "(a loop) (link to a directory outside group_vars/host_vars, or copy the files)",
    ]


def test_group_vars_that_is_not_a_directory(project: Path) -> None:
    shutil.rmtree(project / "inventory/group_vars")
    (project / "inventory/group_vars").write_text("all: {}\n")
    assert errors(project, PLAYBOOK, "-i", INVENTORY) == [
        "error: inventory/group_vars: is not a directory "
        "(a directory of variable files named after groups or hosts)"
    ]


def test_unreadable_files_and_directories_say_permission_denied(project: Path) -> None:
    """Root reads mode-000 files: as root, the run drops the capabilities that allow it."""
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    if os.geteuid() != 0:
        drop = []
    elif shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to read as root without DAC override")
    (project / "checks/disk_usage.yml").chmod(0)
    (project / "inventory/group_vars").chmod(0)
    outcome = jarvisctl_subprocess(["plan", PLAYBOOK, "-i", INVENTORY], project, prefix=drop)
    assert outcome.exit_code == 3, outcome.stderr
    assert outcome.stderr.splitlines()[0] == (
        "error: checks/disk_usage.yml: cannot read: permission denied "
        "(make it readable by the user running jarvisctl)"
    )
    (project / "checks/disk_usage.yml").chmod(0o644)
    outcome = jarvisctl_subprocess(["plan", PLAYBOOK, "-i", INVENTORY], project, prefix=drop)
    assert outcome.stderr.splitlines()[0] == (
        "error: inventory/group_vars: cannot read: permission denied "
        "(make it readable by the user running jarvisctl)"
    )
    (project / "inventory/group_vars").chmod(0o755)
    (project / PLAYBOOK).chmod(0)
    outcome = jarvisctl_subprocess(["plan", PLAYBOOK, "-i", INVENTORY], project, prefix=drop)
    assert outcome.exit_code == 3, outcome.stderr  # not click's exit 2 "is not readable"
    assert outcome.verdict(project) == "located", outcome.stderr


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(project: Path) -> None:
    big = project / "big.yml"
    with big.open("wb") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)  # sparse: the size is what is judged
    assert errors(project, "big.yml") == [
        "error: big.yml: is larger than 4 MiB, the limit for a configuration file "
        "(split it, or use host ranges and group_vars)"
    ]


def test_bytes_that_are_not_utf8_are_located(project: Path) -> None:
    (project / "latin.yml").write_bytes(b"- name: caf\xc3\xa9\n  hosts: s\xe9rver\n")
    assert errors(project, "latin.yml") == [
        "error: latin.yml:2:11: not UTF-8 text (byte 0xe9) (configuration files are UTF-8)"
    ]
    assert read_config_text(project / PLAYBOOK) == (project / PLAYBOOK).read_text()


# --- YAML that would exhaust the loader ----------------------------------------------------

BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)),
    ]
)


def test_an_alias_bomb_is_refused_at_once(project: Path) -> None:
    assert len(BILLION_LAUGHS) < 500
    (project / "bomb.yml").write_text(BILLION_LAUGHS)
    started = time.monotonic()
    outcome = jarvisctl_subprocess(["plan", "bomb.yml"], project)  # bounded memory
    assert outcome.exit_code == 3, outcome.stderr
    assert outcome.stderr.splitlines()[0] == (
        f"error: bomb.yml:6:8: aliases expand this document by more than {MAX_ALIAS_NODES:,} "
        "nodes (an alias bomb? write the values out or share fewer, smaller anchors)"
    )
    assert time.monotonic() - started < 10


def test_shared_anchors_and_merge_keys_still_work() -> None:
    text = "base: &b {warn: 80, crit: 90}\nchecks:\n" + "".join(
        f"  - {{<<: *b, name: c{i}}}\n" for i in range(2000)
    )
    document = yamlsrc.load_yaml_text(text, "f.yml")
    assert document.data["checks"][1999] == {"warn": 80, "crit": 90, "name": "c1999"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [1, *a]\n", "f.yml:1:11: alias *a is inside its own anchor &a"),
        ("a: &a {b: {c: *a}}\n", "f.yml:1:15: alias *a is inside its own anchor &a"),
        ("[" * 5000 + "]" * 5000, f"f.yml:1:1001: nested more than {MAX_DEPTH} levels deep"),
        ("- " * 5000 + "x\n", f"f.yml:1:1999: nested more than {MAX_DEPTH} levels deep"),
        ("- " * 101 + "x\n", f"f.yml:1:201: nested more than {MAX_DEPTH} levels deep"),
        ("[" * 101 + "]" * 101, f"f.yml:1:101: nested more than {MAX_DEPTH} levels deep"),
        ("&x " + "[" * 101 + "]" * 101, f"f.yml:1:104: nested more than {MAX_DEPTH} levels"),
        ("a: 1\nb: x\x00y\n", "f.yml:2:5: control character \\x00 is not allowed in YAML"),
        ("a: 1\n\x1b[31m: 2\n", "f.yml:2:1: control character \\x1b is not allowed in YAML"),
        ("a: é\x07\n", "f.yml:1:5: control character \\x07 is not allowed in YAML"),
        ('a: "x\\0y"\n', "f.yml:1:4: the text holds a NUL character"),
        ('a: "\\ud800"\n', "f.yml:1:4: the text holds a lone surrogate \\ud800"),
        ('"\\udfff": 1\n', "f.yml:1:1: the text holds a lone surrogate \\udfff"),
        ("a:\n  b: " + "9" * 5000 + "\n", "f.yml:2:6: a number with more than 4300 digits"),
        ("a: 0x" + "f" * 5000 + "\n", "f.yml:1:4: a number with more than 4300 digits"),
        ("a: 2026-13-45\n", "f.yml:1:4: invalid timestamp value '2026-13-45'"),
    ],
)
def test_documents_over_the_limits_are_located(text: str, expected: str) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        yamlsrc.load_yaml_text(text, "f.yml")
    assert str(err.value).startswith(expected)
    assert time.monotonic() - started < 2


def test_lines_are_counted_as_editors_count_them() -> None:
    """YAML 1.1 also breaks lines at NEL, LS and a lone CR; an editor shows one line there."""
    for text in ("a: 1 # note\x85 x\n", "a: 1 # note\u2028 x\n", "a: 1 # note\r x\n"):
        with pytest.raises(ConfigError) as err:
            yamlsrc.load_yaml_text(text, "f.yml")
        assert str(err.value).startswith("f.yml:1:14: YAML syntax error: ")  # at the x
    document = yamlsrc.load_yaml_text("# c\x85# d\nb: 2\n", "f.yml")
    assert str(document.source.locate(("b",))) == "f.yml:2:4"


def test_ini_lines_are_counted_as_editors_count_them(project: Path) -> None:
    """Found by the generator: str.splitlines() also ends a line at NEL, LS or a form feed."""
    (project / "f.ini").write_text("# a \x85 b \u2028 c \x0c d\r\n[web]\nh[\n")
    assert errors(project, PLAYBOOK, "-i", "f.ini") == [
        "error: f.ini:3:1: 'h[': unbalanced '[' or ']' in host range"
    ]


def test_nesting_up_to_the_limit_loads() -> None:
    assert yamlsrc.load_yaml_text("[" * MAX_DEPTH + "]" * MAX_DEPTH, "f.yml").data is not None


@pytest.mark.parametrize(
    "text",
    ["[" * 5000 + "]" * 5000, "a: &a [1, *a]\n", "- " * 3000 + "x\n", "a: !!int " + "1" * 9000],
)
def test_the_pure_python_parser_has_the_same_limits(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where PyYAML has no libyaml, its recursive composer must not see a deep document."""
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    with pytest.raises(ConfigError) as err:
        yamlsrc.load_yaml_text(text, "f.yml")
    assert str(err.value).startswith("f.yml:1:")


def test_an_unknown_key_under_a_part_already_dropped(project: Path) -> None:
    """Found by the generator: `schedule` is pruned for one error (a union member), then its
    unknown key was popped from a parent that was gone (AttributeError)."""
    (project / "v.yml").write_text(
        "- {name: a, hosts: all, vars: 3, schedule: {every: 5m, x: 1}}\n"
    )
    assert errors(project, "v.yml") == [
        "error: v.yml:1:31: 'vars': input should be a valid dictionary, got 3",
        "error: v.yml:1:56: unknown key 'x' (valid: every, jitter)",
    ]


def test_a_value_quoted_in_a_message_cannot_break_its_line(project: Path) -> None:
    """Found by the generator: `use: "a\\u2028b"` printed a line separator inside the error."""
    (project / "v.yml").write_text(
        '- {name: a, hosts: all, checks: [{name: x, use: "a\\u2028b\\e[31m\\nc"}]}\n'
    )
    (line,) = errors(project, "v.yml")
    assert line.startswith("error: v.yml:1:49: unknown check 'a\\u2028b\\x1b[31m\\nc' (")


def test_a_secret_in_an_escaped_message_is_still_redacted() -> None:
    """The escaping above is a spelling the redactor must know: a secret with a backslash and a
    line break comes out of a message as neither its plain form nor its repr."""
    secret = "S3cr\\et\nX"
    message = str(Problem(Location("f.yml", 1, 1), f"invalid host {secret}"))
    assert message == "f.yml:1:1: invalid host S3cr\\et\\nX"
    assert Redactor(frozenset({secret})).text(message) == "f.yml:1:1: invalid host ***"


# --- host ranges ---------------------------------------------------------------------------


def test_a_range_too_large_is_refused_before_it_is_expanded(project: Path) -> None:
    (project / "huge.ini").write_text("[web]\nh[0:99999999]\n")
    started = time.monotonic()
    assert errors(project, PLAYBOOK, "-i", "huge.ini") == [
        "error: huge.ini:2:1: 'h[0:99999999]' stands for 100,000,000 hosts: an inventory "
        "holds at most 100,000 hosts (each range counts its hosts)"
    ]
    assert time.monotonic() - started < 5


def test_the_cap_counts_the_whole_inventory(project: Path) -> None:
    """Each reader passes the room left; expanding 60,000 hosts is helper H's speed, not this."""
    (project / "two.ini").write_text("[a]\nb[a:Z][a:Z]\nc[0:99000]\n")
    assert errors(project, PLAYBOOK, "-i", "two.ini") == [
        "error: two.ini:3:1: 'c[0:99000]' stands for 99,001 hosts: an inventory holds at most "
        "100,000 hosts (2,704 already, each range counts its hosts)"
    ]
    (project / "long.ini").write_text("h[0:" + "9" * 5000 + "]\n")
    assert errors(project, PLAYBOOK, "-i", "long.ini") == [
        f"error: long.ini:1:1: 'h[0:{'9' * 56}...': a range bound is longer than 12 characters"
    ]
    assert len(expand_host_entry("h[1:100000]")[0]) == MAX_HOSTS
