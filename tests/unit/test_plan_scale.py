"""Planning stays linear in the size of its input, and its shortcuts change nothing it prints.

The time tests compare the CPU time of a plan with that of a plan four times its size (linear:
about 4x; the quadratic code this guards against: 16x), so a slow or loaded machine moves both
alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli
from jarvisctl.config.templating.templates import TemplateError, Templates

CHECK = """\
    - name: disk {i}
      use: disk_usage
      with: {{path: "{{{{ mount }}}}/d{i}"}}
      warn: 80
      crit: 90
      remediate:
        - use: restart_service
          with: {{unit: "app-{i}"}}
          max_attempts: 2
          window: 1h
    - name: unit {i}
      use: command
      with: {{command: "systemctl is-active --quiet {{{{ unit }}}}-{i}", parse: exit_code}}
      crit: 1
"""


def _playbook(checks: int) -> str:
    body = "".join(CHECK.format(i=i) for i in range(checks // 2))
    return f"- name: p\n  hosts: all\n  vars: {{unit: svc}}\n  checks:\n{body}"


def _inventory(hosts: int, sites: int = 4) -> str:
    lines = ["all:", "  children:"]
    for site in range(sites):
        lines += [f"    site{site}:", f"      vars: {{mount: /srv/{site}}}", "      hosts:"]
        lines += [f"        h{n}: {{}}" for n in range(site, hosts, sites)]
    return "\n".join(lines) + "\n"


def _cpu_seconds(folder: Path, args: list[str]) -> float:
    """CPU time of `jarvisctl plan` run in this process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        started = time.process_time()
        result = CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)
        spent = time.process_time() - started
    assert result.exit_code == 0, result.output[-2000:]
    return spent


def _growth(tmp_path: Path, make: Callable[[Path, int], list[str]], small: int) -> float:
    """How much longer a plan four times larger takes; measured again (best of two) when the
    first measure says too long, as a stall of this machine might."""
    warm = tmp_path / "warm"
    _cpu_seconds(warm, make(warm, 2))  # imports, the catalogue cache
    one, four = tmp_path / "one", tmp_path / "four"
    cases = (one, make(one, small)), (four, make(four, 4 * small))
    times = [_cpu_seconds(folder, args) for folder, args in cases]
    if times[1] / times[0] >= 8:
        times = [
            min(t, _cpu_seconds(folder, args))
            for t, (folder, args) in zip(times, cases, strict=True)
        ]
    return times[1] / times[0]


def _checks_case(folder: Path, checks: int) -> list[str]:
    folder.mkdir()
    (folder / "inv.yml").write_text(_inventory(1, sites=1))
    (folder / "p.yml").write_text(_playbook(checks))
    return ["p.yml", "-i", "inv.yml"]


def _hosts_case(folder: Path, hosts: int) -> list[str]:
    folder.mkdir()
    (folder / "inv.yml").write_text(_inventory(hosts))
    (folder / "p.yml").write_text(_playbook(10))
    return ["p.yml", "-i", "inv.yml", "--json"]


def _range_case(folder: Path, hosts: int) -> list[str]:
    folder.mkdir()
    (folder / "inv.ini").write_text(f"[fleet]\nnode[1:{hosts}] mount=/data\n")
    (folder / "p.yml").write_text(_playbook(2))
    return ["p.yml", "-i", "inv.ini"]


def test_plan_time_grows_linearly_with_the_checks_of_a_play(tmp_path: Path) -> None:
    assert _growth(tmp_path, _checks_case, 200) < 8


def test_plan_time_grows_linearly_with_the_hosts(tmp_path: Path) -> None:
    assert _growth(tmp_path, _hosts_case, 200) < 8


def test_plan_time_grows_linearly_with_a_host_range(tmp_path: Path) -> None:
    assert _growth(tmp_path, _range_case, 500) < 8


def test_hosts_share_parsed_templates_and_equal_plans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 hosts in 4 sites, 10 checks: 5 render the site's mount, 5 the same unit for all."""
    import jinja2

    from jarvisctl.plan import resolve

    counts = {"parse": 0, "compile": 0, "plans": 0}

    def counted(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return call(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(jinja2.Environment, "parse", counted("parse", jinja2.Environment.parse))
    compile_ = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", counted("compile", compile_))
    monkeypatch.setattr(resolve, "CheckPlan", counted("plans", resolve.CheckPlan))
    args = _hosts_case(tmp_path / "fleet", 300)
    _cpu_seconds(tmp_path / "fleet", args)
    assert counts["parse"] <= 2 * 10  # each distinct template text: to compile, to learn its names
    assert counts["compile"] <= 10
    assert counts["plans"] == 5 * 4 + 5


def _plan(folder: Path, playbook: str, inventory: str) -> list[dict[str, Any]]:
    (folder / "p.yml").write_text(playbook)
    (folder / "inv.yml").write_text(inventory)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        result = CliRunner().invoke(cli, ["plan", "p.yml", "-i", "inv.yml", "--json"])
    assert result.exit_code == 0, result.output
    hosts: list[dict[str, Any]] = json.loads(result.stdout)["playbooks"][0]["plays"][0]["hosts"]
    return hosts


def test_hosts_that_render_a_check_differently_get_their_own_plan(tmp_path: Path) -> None:
    inventory = """\
all:
  vars: {mount: /srv, thresholds: {disk 0: {warn: 85}}}
  hosts:
    a: {}
    b: {}
    c: {mount: /mnt}
    d: {thresholds: {disk 0: {warn: 88}}}
    e: {mount: "/srv"}
"""
    hosts = {h["host"]: h["checks"] for h in _plan(tmp_path, _playbook(2), inventory)}
    disk = {name: checks[0] for name, checks in hosts.items()}
    assert disk["a"] == disk["b"] == disk["e"]
    assert disk["a"]["command"] == "df -P /srv/d0"
    assert disk["c"]["command"] == "df -P /mnt/d0"
    assert disk["a"]["thresholds"]["warn"] == "85"
    assert disk["d"]["thresholds"]["warn"] == "88"
    assert disk["d"]["command"] == "df -P /srv/d0"


def test_a_mistake_on_every_host_is_still_reported_once_with_its_hosts(tmp_path: Path) -> None:
    hosts = "\n".join(f"    h{n}: {{}}" for n in range(2000))
    (tmp_path / "p.yml").write_text(_playbook(2))
    (tmp_path / "inv.yml").write_text(f"all:\n  hosts:\n{hosts}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["plan", "p.yml", "-i", "inv.yml"])
    assert result.exit_code == 3
    assert "undefined variable 'mount' (host h0, h1, h2 and 1997 more)" in result.output


def test_json_with_shared_checks_is_the_plain_encoding(tmp_path: Path) -> None:
    (tmp_path / "p.yml").write_text(_playbook(6))
    (tmp_path / "inv.yml").write_text(_inventory(12))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["plan", "p.yml", "-i", "inv.yml", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stdout == json.dumps(json.loads(result.stdout), indent=2) + "\n"


VALUES: list[object] = [
    "a b",
    "",
    0,
    1,
    True,
    False,
    None,
    0.0,
    -0.0,
    1.5,
    ["x y", 2],
    {"k": "v"},
]


@pytest.mark.parametrize("mode", ["shell", "value"])
def test_kept_outputs_are_what_a_fresh_render_gives(mode: str) -> None:
    kept = Templates()
    for text in ["{{ v }}", "pre {{ v }} post", "{{ v | string }}{{ w | default(1) }}"]:
        for value in [*VALUES, *VALUES]:
            outputs = []
            for templates in (kept, Templates()):  # a fresh one renders the text the first time
                render = templates.render_shell if mode == "shell" else templates.render_value
                outputs.append(render(text, {"v": value}))
            assert outputs[0] == outputs[1], (text, value)


def test_values_equal_but_rendered_differently_are_kept_apart() -> None:
    templates = Templates()
    text = "{{ v | string }}"  # compiled (a filter), its output kept by the values it reads
    assert [templates.render_value(text, {"v": v}) for v in (1, True, 0.0, -0.0, 1)] == [
        "1",
        "True",
        "0.0",
        "-0.0",
        "1",
    ]


def test_undefined_and_syntax_errors_are_raised_for_every_host() -> None:
    templates = Templates()
    for _ in range(3):
        with pytest.raises(TemplateError, match="undefined variable 'nope'"):
            templates.render_shell("echo {{ nope }}", {"v": 1})
        with pytest.raises(TemplateError, match="syntax error"):
            templates.render_shell("echo {{ v ", {"v": 1})


def test_random_output_is_not_kept() -> None:
    templates = Templates()
    text = "{{ range(90000) | random }}"
    assert len({templates.render_value(text, {}) for _ in range(20)}) > 1
