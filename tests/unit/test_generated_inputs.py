"""Generated hostile inputs never crash, hang or exhaust memory (issue 14, "Must show").

For every generated input (tests/hostile_inputs.py) the real `jarvisctl plan` must either
accept it (exit 0: the mutation happened to be valid) or refuse it with exit 3 and every error
line located at a file that exists; a traceback, another exit code, an unlocated message, more
than DEADLINE seconds or more than MEMORY_CEILING of memory fails the test with a reproducer.

CI runs a fixed, derandomized set of EXAMPLES inputs (well under a minute). A longer local run:

    JARVIS_FUZZ_EXAMPLES=5000 JARVIS_FUZZ_COUNTS=/tmp/fuzz-counts.json \\
        PYTHONPATH=$PWD .venv/bin/python -m pytest -q -s tests/unit/test_generated_inputs.py

prints (and writes to JARVIS_FUZZ_COUNTS, when set) the number of inputs per target and outcome.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import Outcome, copy_project, jarvisctl_subprocess, plan_in_process
from tests.hostile_inputs import (
    INI_SEED,
    TARGETS,
    Target,
    mutated_text,
    plant,
    planted_kind,
    seed_text,
)

EXAMPLES = int(os.environ.get("JARVIS_FUZZ_EXAMPLES", "200"))
DEADLINE = 10.0  # seconds for one in-process plan; a refusal takes milliseconds
MEMORY_CEILING = 1536 * 1024  # KiB of peak RSS for the whole test process


def prepare(root: Path) -> Path:
    """The shipped project, plus the fuzz/ files the targets replace (all valid)."""
    copy_project(root)
    for target in TARGETS:
        path = root / target.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(seed_text(target.seeds[0]))
    (root / "fuzz/inv/fleet.ini").write_text(INI_SEED)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = prepare(tmp_path_factory.mktemp("generated") / "project")
    for target in TARGETS:  # every target's command accepts the unmutated project
        outcome = plan_in_process(target.args, root, DEADLINE)
        assert outcome.exit_code == 0, (target.name, outcome.stderr)
    return root


@pytest.fixture(scope="module")
def tally() -> Iterator[Counter[tuple[str, str]]]:
    counts: Counter[tuple[str, str]] = Counter()
    yield counts
    report = {
        "inputs": sum(counts.values()),
        "by_outcome": dict(Counter(outcome for _, outcome in counts.elements())),
        "by_target": {f"{t}/{o}": n for (t, o), n in sorted(counts.items())},
    }
    print("\ngenerated inputs:", json.dumps(report, indent=1))
    if os.environ.get("JARVIS_FUZZ_COUNTS"):
        Path(os.environ["JARVIS_FUZZ_COUNTS"]).write_text(json.dumps(report, indent=1) + "\n")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def try_input(project: Path, target: Target, kind: str, content: bytes) -> tuple[str, Outcome]:
    """Plant the input, run plan on it, judge it, and put the valid file back."""
    path = project / target.path
    original = path.read_bytes()
    _remove(path)
    try:
        plant(path, kind, content)
        started = time.monotonic()
        outcome = plan_in_process(target.args, project, DEADLINE)
        verdict = outcome.verdict(project)
        if verdict in ("valid", "located") and time.monotonic() - started > DEADLINE:
            verdict = "too slow"
    finally:
        _remove(path)
        path.write_bytes(original)
    return verdict, outcome


@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same inputs on every run: CI is reproducible
    deadline=None,  # the machine is shared; the run's own DEADLINE bounds each input
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_generated_inputs_are_accepted_or_located_never_crash(
    data: st.DataObject, project: Path, tally: Counter[tuple[str, str]]
) -> None:
    target = data.draw(st.sampled_from(TARGETS), label="target")
    kind = data.draw(planted_kind(), label="kind")
    content = (
        data.draw(mutated_text(target), label="content") if kind in ("file", "directory") else b""
    )
    verdict, outcome = try_input(project, target, kind, content)
    tally[(target.name, verdict if verdict in ("valid", "located") else "other")] += 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert peak < MEMORY_CEILING, f"peak RSS {peak} KiB after {target.name} {kind}"
    assert verdict in ("valid", "located"), (
        f"{verdict}\ntarget {target.name} ({target.path}), kind {kind}, command: "
        f"jarvisctl plan {' '.join(target.args)}\ncontent: {content[:3000]!r}\n"
        f"stderr: {outcome.stderr[-3000:]}"
    )


# --- a fixed set of hostile files, each in its own bounded process ------------------------

BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
)
# (target, how the file is made)
FIXED = (
    ("playbook", "fifo"),
    ("playbook", "dev-zero"),
    ("playbook", "bomb"),
    ("playbook", "deep"),
    ("playbook", "huge"),
    ("check_entry", "fifo"),
    ("check_entry", "dev-zero"),
    ("inventory_yaml", "dev-zero"),
    ("inventory_ini", "range"),
    ("group_vars", "fifo"),
    ("config", "dev-zero"),
)


def make_fixed(project: Path, target: Target, how: str) -> None:
    path = project / target.path
    _remove(path)
    if how == "dev-zero":
        path.symlink_to("/dev/zero")
    elif how == "bomb":
        path.write_text(BOMB)
    elif how == "deep":
        path.write_text("[" * 200_000 + "]" * 200_000)
    elif how == "huge":  # a real 5 MiB document, not a sparse file
        path.write_text("- name: x\n  hosts: all\n  vars: {v: " + "a" * (5 << 20) + "}\n")
    elif how == "range":
        path.write_text(INI_SEED + "\n[huge]\nh[0:99999999]\n")
    else:
        plant(path, {"fifo": "fifo", "directory": "directory", "loop": "loop"}[how], b"")


def test_hostile_files_in_a_bounded_process(tmp_path: Path) -> None:
    """Each in its own process with a wall-clock timeout and RLIMIT_AS: a hang or an exhausted
    memory is a failure of that case, not of the machine."""
    by_name = {t.name: t for t in TARGETS}
    cases: list[tuple[str, str, Path]] = []
    for number, (name, how) in enumerate(FIXED):
        project = prepare(tmp_path / f"case{number}")
        make_fixed(project, by_name[name], how)
        cases.append((name, how, project))

    def run(case: tuple[str, str, Path]) -> tuple[str, str, str, Outcome]:
        name, how, project = case
        outcome = jarvisctl_subprocess(["plan", *by_name[name].args], project, timeout=30)
        return name, how, outcome.verdict(project), outcome

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, cases))
    wrong = [(n, h, v, o.stderr[-500:]) for n, h, v, o in results if v != "located"]
    assert wrong == []
