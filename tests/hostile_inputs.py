"""Hypothesis strategies for hostile and careless inputs (issue 14, "Must show").

Every input starts from a file the project ships and is valid (a playbook, an inventory in YAML
or INI, a group_vars or host_vars file, jarvisctl.yml, a check or remediation entry), then is
mutated as a careless operator or an attacker would: keys deleted, duplicated, misspelled or
given a value of the wrong type, huge numbers, deep nesting, anchors and aliases (shared and
recursive), control characters, injection-looking text, torn or re-indented lines, bytes that
are not UTF-8; or the file is replaced by something that is not a regular file.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from tests.hostile import ROOT

# Where a generated input goes in the project, and the command that reads it.
FLEET = "inventory/jetson-fleet.yml"
ALL_PLAYBOOKS = ("playbooks/", "-i", "fuzz/inv/inventory.yml")


@dataclass(frozen=True)
class Target:
    name: str
    path: str  # relative to the project
    seeds: tuple[str, ...]  # shipped files (relative to ROOT) or inline seeds (INI_SEED ...)
    args: tuple[str, ...]  # for `jarvisctl plan`


INI_SEED = """\
# a fleet in Ansible's INI format
[jetsons:children]
site_north

[site_north]
jetson-0[1:3] ansible_host=192.0.2.11 data_mount=/data
jetson-04:2222 gpu_zone=1
jetson-12 data_mount=/mnt/nvme

[servers]
registry-01 ansible_host=192.0.2.100 ansible_port=2222
mqtt-01

[jetsons:vars]
data_mount=/data
inference_unit=jarvis-inference.service
gpu_zone=1

[servers:vars]
ansible_become=True
"""
HOST_VARS_SEED = "ansible_port: 2202\ndata_mount: /mnt/nvme\nlabels: [edge, north]\n"

TARGETS = (
    Target(
        "playbook",
        "fuzz/playbook.yml",
        ("playbooks/health.yml", "playbooks/jetson-health.yml", "playbooks/server-health.yml"),
        ("fuzz/playbook.yml", "-i", "fuzz/inv/inventory.yml"),
    ),
    Target("inventory_yaml", "fuzz/inv/inventory.yml", (FLEET,), ALL_PLAYBOOKS),
    Target(
        "inventory_ini",
        "fuzz/inv/fleet.ini",
        ("<ini>",),
        ("playbooks/jetson-health.yml", "-i", "fuzz/inv/fleet.ini"),
    ),
    Target(
        "group_vars",
        "fuzz/inv/group_vars/jetsons.yml",
        ("inventory/group_vars/jetsons.yml",),
        ALL_PLAYBOOKS,
    ),
    Target("host_vars", "fuzz/inv/host_vars/jetson-01.yml", ("<host_vars>",), ALL_PLAYBOOKS),
    Target("config", "jarvisctl.yml", ("jarvisctl.yml",), ("playbooks/health.yml",)),
    Target(
        "check_entry",
        "checks/disk_usage.yml",
        ("checks/disk_usage.yml", "checks/systemd_unit.yml", "checks/http.yml"),
        ALL_PLAYBOOKS,
    ),
    Target(
        "remediation_entry",
        "remediations/vacuum_journal.yml",
        ("remediations/vacuum_journal.yml", "remediations/restart_service.yml"),
        ALL_PLAYBOOKS,
    ),
)


def seed_text(seed: str) -> str:
    if seed == "<ini>":
        return INI_SEED
    if seed == "<host_vars>":
        return HOST_VARS_SEED
    return (ROOT / seed).read_text()


# --- values a careless operator or an attacker writes ------------------------------------

INJECTIONS = (
    "x$(touch /tmp/jarvis-fuzz-p)",
    "a; touch /tmp/jarvis-fuzz-p",
    "`id`",
    "' ; echo pwned '",
    '" && echo pwned "',
    "{{ 7 * 7 }}",
    "{{ undefined_variable }}",
    "{% if %}",
    "{{ lookup('pipe', 'id') }}",
    "../../../../etc/shadow",
    "-oProxyCommand=touch /tmp/jarvis-fuzz-p",
    "web[",
    "~[",
    "all:!",
    "*",
    "",
    " ",
)
CONTROL = ("\x00", "\x01", "\x07", "\x08", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "\t")
HUGE_NUMBERS: tuple[str, ...] = (
    "9" * 5000,
    "0x" + "f" * 5000,
    "1e400",
    "-1e400",
    ".nan",
    "-0",
    "0b" + "1" * 20000,
)
# Placeholders: a Python value stands for text that yaml.safe_dump cannot write (a 5,000-digit
# number must appear as a plain scalar); it is replaced in the dumped text.
_RAW = "__RAW_{}__"
_RAW_TEXT = re.compile(r"'?__RAW_(.*?)__'?")


def scalars() -> st.SearchStrategy[Any]:
    """A value of the wrong type or a hostile one; the hostile families come first, and
    hypothesis favours the first branches of one_of."""
    return st.one_of(
        st.sampled_from(HUGE_NUMBERS).map(lambda n: _RAW.format(n)),
        st.sampled_from(INJECTIONS),
        st.sampled_from(CONTROL).map(lambda c: f"a{c}b"),
        st.sampled_from(
            (_RAW.format('"\\ud800"'), _RAW.format('"\\0"'), _RAW.format("!!binary x"))
        ),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        st.text(max_size=30),
        st.just("x" * 5000),
        st.sampled_from(({}, [], {"nested": {"deeper": [1, "two", None]}})),
    )


def _paths(data: Any) -> list[tuple[Any, ...]]:
    """Paths of the nodes, breadth first; a mutated (deep, shared, recursive) structure is
    walked only so far."""
    found: list[tuple[Any, ...]] = []
    queue: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while queue and len(found) < 400:
        path, node = queue.pop(0)
        found.append(path)
        if len(path) >= 12:
            continue
        if isinstance(node, dict):
            queue += [((*path, key), value) for key, value in node.items()]
        elif isinstance(node, list):
            queue += [((*path, index), value) for index, value in enumerate(node)]
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        data = data[step]
    return data


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def _bomb(levels: int) -> Any:
    shared: Any = ["lol"] * 9
    for _ in range(levels):
        shared = [shared] * 9  # the same list object: safe_dump writes &anchors and *aliases
    return shared


# retype is the most common mistake: it is listed three times
OPERATIONS = ("retype", "delete", "rename", "key", "retype", "nest", "share", "retype", "recurse")
OPERATIONS += ("bomb",)


@st.composite
def data_mutation(draw: st.DrawFn, data: Any) -> Any:
    """One structural change at a node of the parsed document (which is modified in place)."""
    paths = _paths(data)
    path = draw(st.sampled_from(paths))
    operation = draw(st.sampled_from(OPERATIONS))
    replacement: Any
    if operation == "delete" and path:
        del _parent(data, path)[path[-1]]
        return data
    if operation == "rename" and path and isinstance(path[-1], str):
        parent = _parent(data, path)
        parent[path[-1] + draw(st.sampled_from(("e", "_", " ", "\x1b", "[")))] = parent.pop(
            path[-1]
        )
        return data
    if operation == "key":  # a key of the wrong type or an unknown one
        target = _parent(data, (*path, None))
        if isinstance(target, dict):
            target[draw(st.sampled_from((1, 2.5, True, None, "unknown_key", "x" * 300)))] = 1
            return data
    if operation == "nest":
        replacement = _nest(draw(scalars()), draw(st.sampled_from((50, 99, 100, 101, 400, 3000))))
    elif operation == "share":  # the same object twice: an alias, recursive if an ancestor
        replacement = _at(data, draw(st.sampled_from(paths)))
    elif operation == "recurse":
        replacement = []
        replacement.append(replacement)
    elif operation == "bomb":
        replacement = _bomb(draw(st.integers(min_value=2, max_value=9)))
    else:
        replacement = draw(scalars())
    if not path:
        return replacement
    _parent(data, path)[path[-1]] = replacement
    return data


def dump(data: Any) -> str:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=2**20)
    return _RAW_TEXT.sub(lambda match: match[1], text)


# --- changes to the text itself ----------------------------------------------------------

TextEdit = Callable[[str, random.Random], str]


def _insert_control(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(CONTROL) + text[at:]


def _duplicate_line(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True) or [""]
    at = rng.randrange(len(lines))
    return "".join([*lines[: at + 1], lines[at], *lines[at + 1 :]])


def _delete_line(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True) or [""]
    del lines[rng.randrange(len(lines))]
    return "".join(lines)


def _reindent(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True) or [""]
    at = rng.randrange(len(lines))
    lines[at] = rng.choice(("  ", "\t", "")) + lines[at].lstrip(" ")
    return "".join(lines)


def _truncate(text: str, rng: random.Random) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _anchor_bomb(text: str, rng: random.Random) -> str:
    lines = ['x0: &x0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x{i}: &x{i} [{','.join([f'*x{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n" + text if rng.random() < 0.5 else text + "\n" + lines[0]


def _ini_range(text: str, rng: random.Random) -> str:
    entry = rng.choice(
        (
            "h[0:99999999]",
            "h[a:Z][a:Z][a:Z][a:Z]",
            "h[0:" + "9" * 5000 + "]",
            "h[5:1]",
            "h[",
            "h[0:9:0]",
        )
    )
    return text + f"\n[huge]\n{entry}\n"


TEXT_EDITS: tuple[TextEdit, ...] = (
    _insert_control,
    _duplicate_line,
    _delete_line,
    _reindent,
    _truncate,
    _anchor_bomb,
    _ini_range,
)


@st.composite
def mutated_text(draw: st.DrawFn, target: Target) -> bytes:
    """A seed of `target` with structural and textual mutations, as the bytes to write."""
    text = seed_text(draw(st.sampled_from(target.seeds)))
    structural = target.name != "inventory_ini" and draw(st.integers(0, 3)) > 0
    if structural:
        data = yaml.safe_load(text)
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            data = draw(data_mutation(data))
        # a structure YAML cannot write keeps the text, mutated below
        with contextlib.suppress(yaml.YAMLError, ValueError, RecursionError):
            text = dump(data)
    rng = random.Random(draw(st.integers(min_value=0, max_value=2**32)))
    # at least one change: an unchanged seed would only count as one more valid input
    for edit in draw(
        st.lists(st.sampled_from(TEXT_EDITS), min_size=0 if structural else 1, max_size=3)
    ):
        text = edit(text, rng)
    content = text.encode("utf-8", errors="surrogatepass")
    if draw(st.integers(min_value=0, max_value=9)) == 0:  # bytes that are not UTF-8
        at = draw(st.integers(min_value=0, max_value=len(content)))
        content = (
            content[:at] + draw(st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80"))) + content[at:]
        )
    return content


# What may stand where a file is expected, besides a regular file (in-process safe: the reader
# refuses them before reading; /dev/zero and mode 000 are in the subprocess set).
FILE_KINDS = ("fifo", "directory", "dangling", "loop", "empty", "sparse")


def planted_kind() -> st.SearchStrategy[str]:
    return st.sampled_from(("file",) * 6 + FILE_KINDS)


def plant(path: Path, kind: str, content: bytes) -> None:
    """Put `kind` at `path` (which does not exist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "file":
        path.write_bytes(content)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
        (path / "inside.yml").write_bytes(content)
    elif kind == "dangling":
        path.symlink_to(path.name + ".missing")
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "sparse":
        with path.open("wb") as handle:
            handle.truncate(4 * 1024 * 1024 + 1)
    else:
        raise ValueError(kind)
