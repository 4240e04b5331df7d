"""Thresholds written in different forms (a plain number read with the check's direction, a
comparison, a Nagios range) that contradict each other are refused at their location, exit 3,
as contradicting plain numbers always were; every pair that is accepted can be OK, warn and
crit agree, and a clear can be reached."""

from __future__ import annotations

import itertools
import math
import tempfile
import textwrap
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jarvisctl.cli.main import cli
from jarvisctl.config.models.values import parse_threshold
from jarvisctl.config.project import load_project
from jarvisctl.core.results import Status
from jarvisctl.core.secrets import SecretValues
from jarvisctl.engine.evaluate import threshold_status
from jarvisctl.engine.statuses import is_clear
from jarvisctl.plan.model import CheckPlan, PlaybookPlan
from jarvisctl.plan.planner import make_plan


def plan(tmp_path: Path, playbook: str, inventory: str | None = None) -> tuple[int, str]:
    (tmp_path / "p.yml").write_text(textwrap.dedent(playbook))
    extra = []
    if inventory is not None:
        (tmp_path / "inv.yml").write_text(textwrap.dedent(inventory))
        extra = ["-i", "inv.yml"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["plan", "p.yml", *extra])
    return result.exit_code, result.stderr


def test_warn_below_beside_crit_above_is_refused_where_crit_is_written(tmp_path: Path) -> None:
    code, err = plan(
        tmp_path,
        """\
        - name: p
          hosts: localhost
          checks:
            - name: memory
              use: memory_available
              warn: 15
              crit: "> 85"
        """,
    )
    assert code == 3
    assert err == (
        "error: p.yml:7:13: crit '> 85' alerts where warn 15 does not, e.g. at 86 (crit must "
        "alert only where warn does (<= 15), further on the bad side; for this check lower is "
        "worse)\n"
    )


def test_a_contradiction_made_by_the_inventory_is_located_there(tmp_path: Path) -> None:
    code, err = plan(
        tmp_path,
        """\
        - name: p
          hosts: all
          checks: [{use: memory_available, warn: "< 15"}]
        """,
        """\
        all:
          hosts:
            h1:
              thresholds: {memory_available: {crit: "@~:30"}}
        """,
    )
    assert code == 3
    assert err.startswith(
        "error: inv.yml:4:7: crit '@~:30' alerts where warn '< 15' does not, e.g. at 22.5"
    )
    assert "thresholds from the variable 'thresholds') (host h1)" in err


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        # a Nagios range beside a plain number
        ('warn: 80, crit: "10:20"', "crit '10:20' alerts where warn 80 does not, e.g. at 9"),
        # two comparisons
        ('warn: "> 90", crit: "> 80"', "crit '> 80' alerts where warn '> 90' does not, e.g. at 85"),
        # a comparison that reads the other way than the direction: blamed, where it is written
        ('warn: "< 20", crit: 90', "4:57: crit 90 alerts where warn '< 20' does not, e.g. at 91"),
        # a clear on the alerting side, in another form
        ('warn: "> 80", clear: "< 85"', "clear '< 85' overlaps warn '> 80': 82.5 would be both"),
        ('warn: "10:20", clear: "@12:30"', "clear '@12:30' overlaps warn '10:20': 9 would be"),
        # a clear that holds no OK value: once alerting, never back to OK
        ("warn: 80, clear: '@~:'", "clear '@~:' holds no value that is OK: once alerting"),
        # a threshold that alerts at every value
        ("warn: '@~:', crit: 95", "warn '@~:' alerts at every value: the check could never be OK"),
    ],
)
def test_contradicting_forms_are_refused_with_what_would_be_valid(
    tmp_path: Path, thresholds: str, message: str
) -> None:
    code, err = plan(
        tmp_path,
        f"""\
        - name: p
          hosts: localhost
          checks:
            - {{name: d, use: disk_usage, with: {{path: /}}, {thresholds}}}
        """,
    )
    assert code == 3, err
    assert err.startswith("error: p.yml:4:"), err
    assert message in err, err
    assert err.rstrip().endswith(")"), err  # a hint: what would be valid


@pytest.mark.parametrize(
    "thresholds",
    [
        'warn: "> 80", crit: ">= 90", clear: "< 75"',
        'warn: 80, crit: "> 95"',
        'warn: "10:90", crit: "5:95", clear: "20:80"',  # outside the range alerts
        'warn: "@80:90", crit: "@85:88"',  # inside the range alerts
        'warn: "> 80", crit: 80',  # they differ at 80 alone
        'warn: "~:80", crit: 90, clear: 70',
    ],
)
def test_forms_that_agree_are_accepted(tmp_path: Path, thresholds: str) -> None:
    code, err = plan(
        tmp_path,
        f"""\
        - name: p
          hosts: localhost
          checks:
            - {{name: d, use: disk_usage, with: {{path: /}}, {thresholds}}}
        """,
    )
    assert code == 0, err


# Every form a threshold takes, over a few numbers so that bounds coincide often.
NUMBERS = st.sampled_from([0, 5, 10, 15, 50, 85, 90])


@st.composite
def thresholds(draw: st.DrawFn) -> str:
    low, high = sorted((draw(NUMBERS), draw(NUMBERS)))
    return draw(
        st.sampled_from(
            [
                str(low),
                f"'{draw(st.sampled_from(['<', '<=', '>', '>=']))} {low}'",
                f"'{low}:{high}'",
                f"'@{low}:{high}'",
                f"'~:{high}'",
                f"'{low}:'",
                f"'@~:{high}'",
                "'@~:'",
            ]
        )
    )


def _samples(check: CheckPlan) -> list[float]:
    """A value between each pair of neighbouring bounds, and beyond both ends: inside an
    interval's interior every threshold answers as it does at any of its values."""
    bounds = sorted(
        {
            b
            for t in (check.warn, check.crit, check.clear)
            if t is not None
            for b in (t.value, t.low, t.high)
            if math.isfinite(b)
        }
    )
    middles = [(a + b) / 2 for a, b in itertools.pairwise(bounds)]
    return [bounds[0] - 1, *middles, bounds[-1] + 1]


def _what_is_wrong(check: CheckPlan) -> str | None:
    """The contradiction the real evaluation shows over the samples, if any."""
    samples = _samples(check)
    statuses = {v: threshold_status(check, v)[0] for v in samples}
    if all(s is not Status.OK for s in statuses.values()):
        return "always alerting"
    warn, crit, direction = check.warn, check.crit, check.direction
    if (
        warn is not None
        and crit is not None
        and any(crit.breached(v, direction) and not warn.breached(v, direction) for v in samples)
    ):
        return "crit alerts where warn does not"
    if check.clear is not None:
        if any(is_clear(v, check) and statuses[v] is not Status.OK for v in samples):
            return "a value both clear and alerting"
        if not any(is_clear(v, check) and statuses[v] is Status.OK for v in samples):
            return "never clear"
    return None


def _plan_one(use: str, thresholds: str) -> PlaybookPlan:
    """`make_plan` of a playbook holding one check of `use` with these thresholds (YAML)."""
    params = {"disk_usage": "with: {path: /}, ", "command": "with: {command: 'echo 1'}, "}
    check = f"{{name: c, use: {use}, {params.get(use, '')}{thresholds}}}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "p.yml")
        path.write_text(f"- {{name: p, hosts: localhost, checks: [{check}]}}\n")
        now = datetime.now(timezone.utc)
        found = make_plan(load_project(None), [path], None, now, secrets=SecretValues())
    (playbook,) = found.playbooks
    return playbook


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    # lower is worse, higher is worse (both with default thresholds), higher without defaults
    use=st.sampled_from(["memory_available", "disk_usage", "command"]),
    warn=thresholds(),
    crit=thresholds(),
    clear=st.none() | thresholds(),
)
def test_any_pair_is_accepted_only_when_it_agrees(
    use: str, warn: str, crit: str, clear: str | None
) -> None:
    given_ = {"warn": warn, "crit": crit, "clear": clear}
    written = {key: text for key, text in given_.items() if text is not None}
    playbook = _plan_one(use, ", ".join(f"{key}: {text}" for key, text in written.items()))
    event("accepted" if playbook.ok else "refused")
    if playbook.ok:
        (check,) = playbook.plays[0].hosts[0].checks
        assert _what_is_wrong(check) is None, written
        return
    (problem,) = playbook.problems
    assert problem.location is not None and problem.location.line == 1, problem
    assert problem.hint, problem  # what would be valid
    # refused only for a real contradiction: the check as it would have been planned (its
    # definition's defaults where a threshold is not written), judged by the real evaluation
    (defaults,) = _plan_one(use, "").plays[0].hosts[0].checks
    check = replace(defaults, **{k: parse_threshold(t.strip("'")) for k, t in written.items()})
    assert _what_is_wrong(check) is not None, (written, str(problem))
