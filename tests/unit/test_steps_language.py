"""A play's `tasks:` and its rollout's `steps:`/`rollback:`: every mistake located at the key
that is wrong (with what is valid), one wrong step never hiding another's mistake, and what each
step resolves to on each host (StepPlan: commands quoted, guards, defaults, files)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli
from jarvisctl.config.models.steps import StepSpec
from jarvisctl.config.project import load_project
from jarvisctl.core.secrets import SecretValues
from jarvisctl.kinds.step_base import (
    CheckWaitAction,
    RebootAction,
    RestoreAction,
    ShellAction,
)
from jarvisctl.plan.model import HostPlan, Plan, StepPlan
from jarvisctl.plan.planner import make_plan
from tests.step_kinds import step_kinds  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("step_kinds")
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "jarvisctl/render/schemas/plan.schema.json").read_text()
)

INVENTORY = """\
all:
  hosts:
    h1: {connection: local, version: 1.4.2, conf: /etc/app}
    h2: {connection: local, version: "1.4.2; rm -rf /", conf: /etc/app, become: true}
"""


def project(root: Path, playbook: str, files: dict[str, str] | None = None) -> Path:
    (root / "jarvisctl.yml").write_text("{}\n")
    (root / "inventory.yml").write_text(INVENTORY)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    path = root / "p.yml"
    path.write_text(textwrap.dedent(playbook))
    return path


def plan_of(
    root: Path, playbook: str, files: dict[str, str] | None = None, tags: tuple[str, ...] = ()
) -> Plan:
    path = project(root, playbook, files)
    now = datetime.now(timezone.utc)
    return make_plan(
        load_project(start=root),
        [path],
        [root / "inventory.yml"],
        now,
        tags=tags,
        secrets=SecretValues(),
    )


def invoke(root: Path, *args: str) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def errors_of(root: Path, playbook: str, files: dict[str, str] | None = None) -> list[str]:
    """The `error:` lines `jarvisctl plan` prints for this project."""
    project(root, playbook, files)
    result = invoke(root, "plan", "p.yml", "-i", "inventory.yml")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def host_plan(plan: Plan, host: str, play: int = 0) -> HostPlan:
    assert plan.ok, plan.problems
    return next(h for h in plan.playbooks[0].plays[play].hosts if h.host == host)


TASKS = """\
- name: weekly
  hosts: all
  tasks:
{steps}
"""


def tasks(*steps: str) -> str:
    return TASKS.format(steps="\n".join(f"    - {step}" for step in steps))


NEEDS_311 = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="atomic groups and possessive repeats: Python 3.11"
)
COMMON = "become, changed_when, creates, delay, name, once, removes, retries, tags, timeout, unless"


def test_a_misspelt_common_key_is_named_at_the_key(tmp_path: Path) -> None:
    assert errors_of(tmp_path, tasks("{sh: apt-get clean, retires: 2}")) == [
        "error: p.yml:4:27: unknown step key 'retires' (did you mean 'retries'? "
        f"the keys every step may have: {COMMON})"
    ]


def test_a_second_kind_key_is_located_at_it(tmp_path: Path) -> None:
    assert errors_of(tmp_path, tasks("{sh: a, put: {src: x, dest: /x}}")) == [
        "error: p.yml:4:15: a step has exactly one kind key: 'put' is a second one (after "
        f"'sh') (one kind per step; the keys every step may have besides it: {COMMON})"
    ]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "{retries: 2}",
            "p.yml:4:7: a step needs one key naming its kind (run, copy, package, service, ...)"
            " (e.g. {run: systemctl restart app, retries: 2, delay: 10s})",
        ),
        (
            "apt-get clean",
            "p.yml:4:7: a step must be a mapping with one key naming its kind, got "
            "'apt-get clean' (e.g. {run: systemctl restart app, retries: 2, delay: 10s})",
        ),
        (
            "{kind: sh, command: x}",
            "p.yml:4:8: 'kind' is not a step key: name the kind by its own key "
            "(e.g. {run: systemctl restart app, retries: 2, delay: 10s})",
        ),
        (
            '{"": x}',
            "p.yml:4:8: '' is not the name of a step kind (the kind's name as the key, "
            "e.g. {run: systemctl restart app, retries: 2, delay: 10s})",
        ),
        (
            "{null: x}",
            "p.yml:4:7: None is not the name of a step kind (the kind's name as the key, "
            "e.g. {run: systemctl restart app, retries: 2, delay: 10s})",
        ),
        (
            "{sh: x, retries: many}",
            "p.yml:4:24: 'retries': expected a whole number, got str 'many'",
        ),
        (
            "{sh: x, retries: -1}",
            "p.yml:4:24: 'retries': input should be greater than or equal to 0, got -1",
        ),
        (
            "{sh: x, delay: 3x}",
            "p.yml:4:22: 'delay': invalid duration '3x' (expected a number of seconds, "
            "or e.g. 500ms, 30s, 5m, 1h30m, 2d)",
        ),
        (
            '{sh: x, changed_when: "("}',
            "p.yml:4:29: 'changed_when': invalid regular expression '(': missing ), "
            "unterminated subpattern at position 0",
        ),
        (
            '{sh: x, changed_when: "^(a+)+$"}',
            "p.yml:4:29: 'changed_when': '^(a+)+$' repeats without bound a part that itself "
            "repeats without bound: matching it can take exponential time on some output "
            "(catastrophic backtracking); write it without the nesting ('(a+)+' matches what "
            "'a+' does), or make the inner repetition atomic ('(?>a+)') or possessive ('a++')",
        ),
        (
            '{sh: x, changed_when: "(?:x|(\\\\w*\\\\s?)*)$"}',
            "p.yml:4:29: 'changed_when': '(?:x|(\\\\w*\\\\s?)*)$' repeats without bound a part "
            "that itself repeats without bound: matching it can take exponential time on some "
            "output (catastrophic backtracking); write it without the nesting ('(a+)+' matches "
            "what 'a+' does), or make the inner repetition atomic ('(?>a+)') or possessive "
            "('a++')",
        ),
        (
            "{sh: x, once: yes please}",
            "p.yml:4:21: 'once': input should be a valid boolean, got 'yes please'",
        ),
    ],
)
def test_each_mistake_in_a_step_is_located(tmp_path: Path, step: str, expected: str) -> None:
    assert errors_of(tmp_path, tasks(step)) == [f"error: {expected}"]


@pytest.mark.parametrize(
    "pattern",
    [
        r"^upgraded \d+",
        r"(ab)+c",
        r"a+b+",
        r"(a{3})+",
        r"(\d+\.)*\d+ upgraded",
        r"\d+ (?:packages?|files?) changed",
        pytest.param(r"(?>a+)+", marks=NEEDS_311),
        pytest.param(r"(?:a++)+", marks=NEEDS_311),
    ],
)
def test_a_changed_when_without_nested_unbounded_repetition_is_taken(pattern: str) -> None:
    spec = StepSpec.model_validate({"sh": "x", "changed_when": pattern})
    assert spec.changed_when == pattern


def test_an_unknown_kind_is_located_at_its_key_with_near_misses(tmp_path: Path) -> None:
    (error,) = errors_of(tmp_path, tasks("{shh: apt-get clean, retries: 1}"))
    assert error.startswith(
        "error: p.yml:4:8: unknown step kind 'shh' (a step kind; did you mean 'sh'?"
    )
    shown = error.split("known: ", 1)[1].rstrip(")").split(", ")  # the built-ins too
    known = [name for name in shown if not name.startswith("... ")]  # the first 12
    assert {"bounce", "copy", "hold", "plugin_reboot", "put", "recover"} <= set(known)
    assert known == sorted(known)


def test_one_wrong_step_hides_no_other_mistake(tmp_path: Path) -> None:
    playbook = """\
    - name: weekly
      hosts: all
      tasks:
        - {sh: a, retires: 2}
        - {shh: b}
        - sh: "{{ nope }}"
        - {sh: c, delay: 3x}
    - name: roll
      hosts: all
      rollout:
        batches: [1, 0]
        steps:
          - {put: x}
          - {sh: d, creates: relative/path}
        rollback:
          - {sh: e, tags: [t]}
    """
    errors = errors_of(tmp_path, playbook)
    assert [e.split(": ")[1] for e in errors] == [
        "p.yml:4:15",
        "p.yml:5:8",
        "p.yml:6:11",
        "p.yml:7:22",
        "p.yml:11:18",
        "p.yml:13:15",
        "p.yml:14:26",
        "p.yml:16:17",
    ], "\n".join(errors)
    assert "undefined variable 'nope'" in errors[2] and "(host h1, h2)" in errors[2]
    assert (
        "put: expected a mapping of parameters, got 'x' (this kind has no shorthand)" in errors[5]
    )
    assert "its parameters: src, dest, template, mode" in errors[5]
    assert "creates: 'relative/path' is not an absolute path on the host" in errors[6]
    assert "a rollback step has no tags" in errors[7]


def test_a_scalar_fills_the_shorthand_and_true_or_nothing_takes_the_defaults(
    tmp_path: Path,
) -> None:
    plan = plan_of(
        tmp_path,
        tasks("sh: apt-get clean", "bounce: true", "bounce:", "bounce: {}", "bounce: {wait: 60}"),
    )
    host = host_plan(plan, "h1")
    assert host.tasks[0].action == ShellAction(apply=(host.tasks[0].action.apply[0],))  # type: ignore[union-attr]
    assert [t.action.wait for t in host.tasks[1:]] == [600.0, 600.0, 600.0, 60.0]  # type: ignore[union-attr]
    assert all(isinstance(t.action, RebootAction) for t in host.tasks[1:])
    assert [t.index for t in host.tasks] == [0, 1, 2, 3, 4]
    assert [t.key for t in host.tasks] == ["task:1", "task:2", "task:3", "task:4", "task:5"]


def test_false_does_not_switch_a_step_off(tmp_path: Path) -> None:
    assert errors_of(tmp_path, tasks("bounce: false")) == [
        "error: p.yml:4:15: 'bounce: false' does not switch a step off (remove the step, or "
        "select steps with tags) (host h1, h2)"
    ]


def test_an_unknown_parameter_is_located_at_its_key(tmp_path: Path) -> None:
    assert errors_of(tmp_path, tasks("sh: {comand: ls}")) == [
        "error: p.yml:4:11: sh: missing required key 'command' (host h1, h2)",
        "error: p.yml:4:12: sh: unknown parameter 'comand' (did you mean 'command'? valid: "
        "command, chdir, then) (host h1, h2)",
    ]


def test_commands_and_unless_are_quoted_paths_are_values(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        tasks(
            '{sh: "echo {{ version }}", unless: "grep -q {{ version }} /v", '
            'creates: "{{ conf }}/{{ version }}", removes: /tmp/x}'
        ),
    )
    hostile = host_plan(plan, "h2").tasks[0]
    assert hostile.action.apply[0].command == "echo '1.4.2; rm -rf /'"  # type: ignore[union-attr]
    assert hostile.unless == "grep -q '1.4.2; rm -rf /' /v"
    assert hostile.creates == "/etc/app/1.4.2; rm -rf /"  # a value: the engine quotes it
    assert hostile.removes == "/tmp/x"
    assert host_plan(plan, "h1").tasks[0].unless == "grep -q 1.4.2 /v"


def test_defaults_come_from_the_kind_and_the_host(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        tasks(
            "sh: a", "{put: {src: /etc/hostname, dest: /x}}", "{sh: b, timeout: 5s, become: false}"
        ),
    )
    plain, elevated = host_plan(plan, "h1"), host_plan(plan, "h2")
    assert [t.timeout for t in plain.tasks] == [120.0, 300.0, 5.0]
    assert [t.become for t in plain.tasks] == [False, False, False]
    assert [t.become for t in elevated.tasks] == [True, True, False]
    assert plain.tasks[0].name == "sh a"  # the kind's summary when there is no name
    assert (plain.tasks[0].retries, plain.tasks[0].delay, plain.tasks[0].once) == (0, 5.0, False)
    assert plain.tasks[0].location.line == 4


def test_names_are_rendered_and_need_not_be_unique(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path, tasks("{name: 'v {{ version }}', sh: a}", "{name: 'v {{ version }}', sh: b}")
    )
    steps = host_plan(plan, "h1").tasks
    assert [s.name for s in steps] == ["v 1.4.2", "v 1.4.2"]
    assert [s.key for s in steps] == ["task:1", "task:2"]  # progress counts by position


def test_a_copy_reads_its_source_from_the_playbook_directory_and_renders_it(
    tmp_path: Path,
) -> None:
    files = {"files/app.env.j2": "VERSION={{ version }}\nHOST={{ inventory_hostname }}\n"}
    step = "{put: {src: files/app.env.j2, dest: /etc/app.env, template: true}}"
    plan = plan_of(tmp_path, tasks(step, "{put: {src: files/app.env.j2, dest: /raw}}"), files)
    for host, version in (("h1", "1.4.2"), ("h2", "1.4.2; rm -rf /")):
        rendered, raw = host_plan(plan, host).tasks
        command = rendered.action.apply[0]  # type: ignore[union-attr]
        assert command.stdin == f"VERSION={version}\nHOST={host}\n".encode()
        assert command.stdin.decode() not in command.command  # content on stdin, never argv
        assert raw.action.apply[0].stdin == files["files/app.env.j2"].encode()  # type: ignore[union-attr]


def test_a_copy_from_an_absolute_path_and_the_source_shared_by_hosts(tmp_path: Path) -> None:
    source = tmp_path / "elsewhere.conf"
    source.write_text("x=1\n")
    plan = plan_of(tmp_path, tasks(f"{{put: {{src: {source}, dest: /etc/x.conf}}}}"))
    first = host_plan(plan, "h1").tasks[0].action.apply[0].stdin  # type: ignore[union-attr]
    second = host_plan(plan, "h2").tasks[0].action.apply[0].stdin  # type: ignore[union-attr]
    assert first == b"x=1\n" and first is second  # read once for the plan


def test_copy_source_mistakes_are_located_at_src(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    files = {"bad.j2": "line one\n{{ undefined_thing }}\n", "files/dir/keep": ""}
    errors = errors_of(
        tmp_path,
        tasks(
            "{put: {src: missing.conf, dest: /x}}",
            "{put: {src: bad.j2, dest: /x, template: true}}",
            "{put: {src: fifo, dest: /x}}",
            "{put: {src: files/dir, dest: /x}}",
            "{put: {src: bad.j2, dest: relative}}",
        ),
        files,
    )
    assert errors == [
        f"error: p.yml:4:19: put: src 'missing.conf' ({tmp_path}/missing.conf): file not found "
        "(host h1, h2)",
        "error: p.yml:5:19: put: template 'bad.j2': undefined variable 'undefined_thing' "
        "(host h1, h2)",
        f"error: p.yml:6:19: put: src 'fifo' ({tmp_path}/fifo): is a named pipe (FIFO) "
        "(expected a regular file) (host h1, h2)",
        f"error: p.yml:7:19: put: src 'files/dir' ({tmp_path}/files/dir): is a directory "
        "(expected a regular file) (host h1, h2)",
        "error: p.yml:8:13: put: dest 'relative' is not an absolute path (host h1, h2)",
    ]


def test_a_secret_in_a_template_or_a_command_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_TOKEN", "tok-91c2e7")
    files = {"files/app.env.j2": "TOKEN={{ env('APP_TOKEN') }}\n"}
    project(
        tmp_path,
        tasks(
            "{put: {src: files/app.env.j2, dest: /etc/app.env, template: true}}",
            "sh: \"curl -H 'X-Token: {{ env('APP_TOKEN') }}' http://x\"",
        ),
        files,
    )
    digest = hashlib.sha256(b"TOKEN=tok-91c2e7\n").hexdigest()
    for args in ((), ("--json",)):
        result = invoke(tmp_path, "plan", "p.yml", "-i", "inventory.yml", *args)
        assert result.exit_code == 0, result.output
        assert "tok-91c2e7" not in result.output
        # nor its digest: sha256 of a short token in a known template could be guessed
        assert digest not in result.output
        assert "X-Token: ***" in result.output
    text = invoke(tmp_path, "plan", "p.yml", "-i", "inventory.yml").output
    assert (
        "stdin: files/app.env.j2 -> /etc/app.env: 17 bytes (they hold a secret: no digest" in text
    )
    assert "probe: $ echo *** /etc/app.env | sha256sum -c --status" in text
    document = json.loads(invoke(tmp_path, "plan", "p.yml", "-i", "inventory.yml", "--json").output)
    jsonschema.validate(document, SCHEMA)
    copy = document["playbooks"][0]["plays"][0]["hosts"][0]["tasks"][0]
    assert copy["action"]["apply"][0]["stdin"] == {"bytes": 17, "sha256": None}


def test_a_restore_names_a_backup_and_a_wait_names_checks_of_the_play(tmp_path: Path) -> None:
    playbook = """\
    - name: roll
      hosts: all
      checks:
        - {name: up, use: path_exists, with: {path: /}}
      backups:
        - {name: cfg, paths: [/etc/hostname], keep: {last: 3}}
      tasks:
        - recover: cfg
        - recover: cgf
        - hold: [up]
        - hold: [up, down]
    """
    assert errors_of(tmp_path, playbook) == [
        "error: p.yml:9:16: recover: 'cgf' is not a backup of this play (a name in the play's "
        "backups:; did you mean 'cfg'? known: cfg) (host h1, h2)",
        "error: p.yml:11:13: hold: 'down' is not a check of this play (a check's name; "
        "known: up) (host h1, h2)",
    ]
    project(tmp_path, playbook.replace("        - recover: cgf\n", "").replace(", down", ""))
    assert invoke(tmp_path, "plan", "p.yml", "-i", "inventory.yml").exit_code == 0


def test_restore_and_wait_actions_reach_the_plan(tmp_path: Path) -> None:
    playbook = """\
    - name: roll
      hosts: all
      checks:
        - {name: up, use: path_exists, with: {path: /}, max_age: 1h}
      backups:
        - {name: cfg, paths: [/etc/hostname], keep: {last: 3}, max_age: 1d}
      tasks:
        - recover: cfg
        - hold: [up]
    """
    with pytest.raises(AssertionError):  # max_age is not a check key: shown as located
        host_plan(plan_of(tmp_path, playbook), "h1")
    plan = plan_of(tmp_path, playbook.replace(", max_age: 1h", ""))
    restore, wait = host_plan(plan, "h1").tasks
    assert restore.action == RestoreAction("cfg")
    assert wait.action == CheckWaitAction(("up",), 5.0, 60.0)


def test_a_wait_for_a_check_measured_on_the_controller_is_refused(tmp_path: Path) -> None:
    playbook = """\
    - name: roll
      hosts: all
      checks:
        - {name: up, use: path_exists, with: {path: /}}
        - {name: fresh, use: backup_age, with: {backup: cfg}, crit: 1d}
      backups:
        - {name: cfg, paths: [/etc/hostname], keep: {last: 3}, max_age: 1d}
      tasks:
        - hold: [up, backup cfg]
        - hold: [fresh]
    """
    assert errors_of(tmp_path, playbook) == [
        "error: p.yml:9:7: hold: check 'backup cfg' (backup_age) is measured on the controller, "
        "not on the host: waiting for it would wait for nothing the host does (name a check "
        "the host measures) (host h1, h2)",
        "error: p.yml:10:7: hold: check 'fresh' (backup_age) is measured on the controller, "
        "not on the host: waiting for it would wait for nothing the host does (name a check "
        "the host measures) (host h1, h2)",
    ]


def test_a_check_a_step_waits_for_is_planned_whatever_the_tags(tmp_path: Path) -> None:
    playbook = """\
    - name: roll
      hosts: all
      checks:
        - {name: up, use: path_exists, with: {path: /}}
        - {name: other, use: path_exists, with: {path: /tmp}}
      tasks:
        - {hold: [up], tags: [deploy]}
    """
    host = host_plan(plan_of(tmp_path, playbook, tags=("deploy",)), "h1")
    assert [c.name for c in host.checks] == ["up"]


def test_a_plugin_may_not_give_an_action_only_the_engine_kinds_give(tmp_path: Path) -> None:
    assert errors_of(tmp_path, tasks("plugin_reboot: {}")) == [
        "error: p.yml:4:22: step kind 'plugin_reboot' (a plugin) gave a RebootAction (a "
        "plugin's step gives a ShellAction or a PollAction) (host h1, h2)"
    ]


def test_a_template_error_in_a_list_of_commands_is_at_its_item(tmp_path: Path) -> None:
    (error,) = errors_of(tmp_path, tasks("sh: {command: ls, then: [pwd, '{{ nowhere }}']}"))
    assert error == (
        "error: p.yml:4:37: template '{{ nowhere }}': undefined variable 'nowhere' (host h1, h2)"
    )


def test_tags_select_steps_as_they_select_checks(tmp_path: Path) -> None:
    playbook = """\
    - name: mixed
      hosts: all
      checks:
        - {name: up, use: path_exists, with: {path: /}, tags: [health]}
        - {name: gated, use: path_exists, with: {path: /tmp}}
      tasks:
        - {sh: a, tags: [clean]}
        - sh: b
      rollout:
        gate: [gated]
        steps:
          - {sh: c, tags: [deploy]}
          - sh: d
        rollback:
          - sh: e
    """
    plan = plan_of(tmp_path, playbook, tags=("clean",))
    host = host_plan(plan, "h1")
    assert [t.name for t in host.tasks] == ["sh a"]
    assert (host.steps, host.rollback, host.checks) == ((), (), ())
    assert plan.playbooks[0].plays[0].rollout is None
    plan = plan_of(tmp_path, playbook, tags=("deploy",))
    host = host_plan(plan, "h1")
    assert host.tasks == ()
    assert [s.name for s in host.steps] == ["sh c"]
    assert [s.index for s in host.steps] == [0]
    assert [s.name for s in host.rollback] == ["sh e"]  # a rollback runs whole
    assert [c.name for c in host.checks] == ["gated"]  # the gate's check, untagged
    assert plan.playbooks[0].plays[0].rollout is not None


def test_a_step_plan_is_what_the_engine_runs(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        tasks(
            "{name: restart, sh: systemctl restart app, retries: 2, delay: 10s, once: true, "
            "changed_when: restarted, tags: [t]}"
        ),
    )
    (step,) = host_plan(plan, "h1").tasks
    assert isinstance(step, StepPlan)
    assert (step.phase, step.kind, step.retries, step.delay) == ("task", "sh", 2, 10.0)
    assert (step.once, step.changed_when, step.tags) == (True, "restarted", ("t",))


def test_hosts_that_render_a_step_alike_share_one_plan(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        tasks(
            "{sh: apt-get clean, become: true}",
            'sh: "echo {{ version }}"',
            "{sh: {command: ls, then: [a]}, become: true}",
        ),
    )
    (first, versioned, listed), (second, other, listed_too) = (
        host_plan(plan, "h1").tasks,
        host_plan(plan, "h2").tasks,
    )
    assert first is second  # one StepPlan for the fleet: printed and encoded once
    assert versioned is not other and versioned.name != other.name
    assert listed is listed_too


def test_hostile_copy_sources_are_refused_at_the_step(tmp_path: Path) -> None:
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "big").write_bytes(b"x" * (4 * 1024 * 1024 + 1))
    files = {"bomb.j2": "{% for i in range(10**9) %}{{ i }}{% endfor %}"}
    errors = errors_of(
        tmp_path,
        tasks(
            "{put: {src: zero, dest: /x}}",
            "{put: {src: big, dest: /x}}",
            "{put: {src: bomb.j2, dest: /x, template: true}}",
            "{put: {src: '', dest: /x}}",
        ),
        files,
    )
    assert len(errors) == 4, errors
    assert "is a character device (expected a regular file)" in errors[0]
    assert "is larger than 4 MiB" in errors[1]
    assert errors[2].startswith("error: p.yml:6:19: put: template 'bomb.j2': ")
    assert "src '' is not a path" in errors[3]


def test_plan_text_lists_a_host_s_work_in_the_order_a_run_does_it(tmp_path: Path) -> None:
    playbook = """\
    - name: all of it
      hosts: h1
      checks:
        - {name: up, use: path_exists, with: {path: /}}
      backups:
        - {name: cfg, paths: [/etc/hostname], keep: {last: 3}}
      tasks:
        - {sh: "echo {{ version }}", creates: /done, retries: 1, delay: 2s}
      rollout:
        steps:
          - sh: deploy
        rollback:
          - recover: cfg
    """
    project(tmp_path, playbook)
    result = invoke(tmp_path, "plan", "p.yml", "-i", "inventory.yml")
    assert result.exit_code == 0, result.output
    heads = [
        line.split()[0]
        for line in result.output.splitlines()
        if line.startswith("      ") and not line.startswith("       ")
    ]
    assert heads == ["batch", "per", "CHECK", "TASK", "BACKUP", "STEP", "ROLLBACK"]
    assert (
        "      TASK 1. sh echo 1.4.2  [sh]\n"
        "        timeout 2m, retries 1, delay 2s\n"
        "        skip if it exists: /done\n"
        "        $ echo 1.4.2\n"
    ) in result.output


def test_a_secret_in_a_copy_s_inline_content_shows_neither_itself_nor_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`content:` is rendered as a value, not read from a template file: its digest (in the
    copy's probe and verification) is as guessable as a template's."""
    monkeypatch.setenv("APP_TOKEN", "tok-91c2e7")
    project(
        tmp_path, tasks("""{copy: {content: "TOKEN={{ env('APP_TOKEN') }}\\n", dest: /etc/a}}""")
    )
    digest = hashlib.sha256(b"TOKEN=tok-91c2e7\n").hexdigest()
    for args in ((), ("--json",)):
        result = invoke(tmp_path, "plan", "p.yml", "-i", "inventory.yml", *args)
        assert result.exit_code == 0, result.output
        assert "tok-91c2e7" not in result.output
        assert digest not in result.output
