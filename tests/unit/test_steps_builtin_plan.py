"""The built-in step kinds (kinds/steps*.py) as the planner resolves them, and the shipped
playbooks/rollout.yml, which `jarvisctl plan` accepts over the shipped Jetson fleet."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from click.testing import CliRunner, Result

from jarvisctl.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "jarvisctl/render/schemas/plan.schema.json").read_text())
INVENTORY = """\
all:
  hosts:
    h1: {connection: local, version: 1.4.2}
    h2: {connection: local, version: "1.4.2; rm -rf /", become: true}
"""


def invoke(root: Path, *args: str) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def plan_json(root: Path, playbook: str, files: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    (root / "jarvisctl.yml").write_text("{}\n")
    (root / "inventory.yml").write_text(INVENTORY)
    (root / "p.yml").write_text(textwrap.dedent(playbook))
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    result = invoke(root, "plan", "p.yml", "-i", "inventory.yml", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    document = json.loads(result.output)
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    return document  # type: ignore[no-any-return]


def errors(root: Path, playbook: str) -> list[str]:
    (root / "jarvisctl.yml").write_text("{}\n")
    (root / "inventory.yml").write_text(INVENTORY)
    (root / "p.yml").write_text(textwrap.dedent(playbook))
    result = invoke(root, "plan", "p.yml", "-i", "inventory.yml")
    assert result.exit_code == 3, result.output
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def test_run_copy_restore_and_reboot_resolve_per_host(tmp_path: Path) -> None:
    document = plan_json(
        tmp_path,
        """\
        - name: roll
          hosts: all
          backups:
            - {name: cfg, paths: [/etc/hostname], keep: {last: 3}}
          tasks:
            - run: "echo {{ version }}"
            - {run: {command: make, chdir: /srv/app, env: {V: "{{ version }}"}}, retries: 1}
            - copy: {src: files/app.env.j2, dest: /etc/app.env, template: true}
            - restore: cfg
            - reboot: true
            - reboot:
        """,
        {"files/app.env.j2": "V={{ version }}\n"},
    )
    (play,) = document["playbooks"][0]["plays"]
    plain, hostile = play["hosts"]
    run, made, copy, restore, reboot, reboot_too = hostile["tasks"]
    assert run["action"]["apply"][0]["command"] == "echo '1.4.2; rm -rf /'"
    assert run["timeout_seconds"] == 300 and run["become"] is True
    assert made["action"]["apply"][0]["command"].splitlines() == [
        "cd -- /srv/app || exit",
        "V='1.4.2; rm -rf /'; export V",
        "make",
    ]
    stdin = copy["action"]["apply"][0]["stdin"]
    content = b"V=1.4.2; rm -rf /\n"  # a template's values are not quoted: it is a file
    assert stdin == {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    assert "files/app.env.j2" in copy["action"]["apply"][0]["describe"]
    assert copy["name"].startswith("copy ")
    assert restore["action"] == {"type": "restore", "backup": "cfg", "snapshot": None}
    assert restore["timeout_seconds"] == 3600
    assert reboot["action"]["type"] == "reboot" and reboot["action"]["wait_seconds"] == 600
    assert reboot_too["action"] == reboot["action"]
    assert plain["tasks"][0]["action"]["apply"][0]["command"] == "echo 1.4.2"


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("{rn: ls}", "unknown step kind 'rn' (a step kind; did you mean 'run'?"),
        ("{copy: files/x}", "copy: expected a mapping of parameters, got 'files/x'"),
        ("{restore: nope}", "restore: 'nope' is not a backup of this play"),
        ("{run: {cmd: ls}}", "run: unknown parameter 'cmd'"),
        ("{copy: {src: missing.j2, dest: /x}}", "copy: src 'missing.j2' ("),
        ("{reboot: false}", "'reboot: false' does not switch a step off"),
        ("{wait_for: {check: [nope]}}", "wait_for: 'nope' is not a check of this play"),
        ("{wait_for: {port: 8080, url: 'http://x'}}", "give exactly one of port, url, path"),
        ("{run: true}", "run: true stands for the kind's defaults, and it has none for command"),
    ],
)
def test_mistakes_with_the_built_in_kinds_are_located(
    tmp_path: Path, step: str, expected: str
) -> None:
    found = errors(tmp_path, f"- name: p\n  hosts: all\n  tasks:\n    - {step}\n")
    assert found and all(line.startswith("error: p.yml:4:") for line in found), found
    assert any(expected in line for line in found), found


def test_the_shipped_rollout_playbook_plans_over_the_shipped_fleet(tmp_path: Path) -> None:
    junit = tmp_path / "plan.xml"
    args = ["plan", "playbooks/rollout.yml", "-i", "inventory/jetson-fleet.yml"]
    result = invoke(ROOT, *args, "--json", "--junit", str(junit))
    assert result.exit_code == 0, result.output + result.stderr
    document = json.loads(result.output)
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    xmlschema.XMLSchema(str(ROOT / "tests/schemas/junit-10.xsd")).validate(str(junit))
    inference, cleanup = document["playbooks"][0]["plays"]
    rollout = inference["rollout"]
    assert rollout["batches"] == [
        ["jetson-01"],
        ["jetson-02"],
        ["jetson-03", "jetson-11", "jetson-12"],
    ]
    assert (rollout["pause_after"], rollout["gate"]) == ([1], ["inference up", "api health"])
    board = inference["hosts"][4]
    assert board["host"] == "jetson-12"
    pull, copy, restart = board["steps"]
    assert pull["action"]["apply"][0]["command"] == "docker pull registry.local/jarvis:1.4.2"
    env = b"".join(
        line.encode() + b"\n"
        for line in (
            "# Written by jarvisctl (playbooks/rollout.yml) for jetson-12: edit the template.",
            "JARVIS_VERSION=1.4.2",
            "JARVIS_PORT=8080",
            "JARVIS_DATA=/mnt/nvme",
            "JARVIS_NODE=jetson-12",
        )
    )
    assert copy["action"]["apply"][0]["stdin"]["sha256"] == hashlib.sha256(env).hexdigest()
    assert (restart["retries"], restart["delay_seconds"]) == (2, 10)
    assert [s["action"]["type"] for s in board["rollback"]] == ["restore", "shell"]
    assert cleanup["rollout"] is None and cleanup["schedule"] is not None
    assert {len(h["tasks"]) for h in cleanup["hosts"]} == {3}
    text = invoke(ROOT, *args)
    assert text.exit_code == 0
    assert "      batch 3: jetson-03, jetson-11, jetson-12\n" in text.output


def test_a_copy_holding_a_secret_shows_neither_it_nor_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_TOKEN", "tok-5e1a")
    playbook = """\
    - name: w
      hosts: h1
      tasks:
        - {copy: {src: app.env.j2, dest: /etc/app.env, template: true}}
    """
    document = plan_json(tmp_path, playbook, {"app.env.j2": "TOKEN={{ env('APP_TOKEN') }}\n"})
    (copy,) = document["playbooks"][0]["plays"][0]["hosts"][0]["tasks"]
    digest = hashlib.sha256(b"TOKEN=tok-5e1a\n").hexdigest()
    assert copy["action"]["apply"][0]["stdin"] == {"bytes": 15, "sha256": None}
    text = json.dumps(document)
    assert "tok-5e1a" not in text and digest not in text  # the probe's digest is redacted
    assert '[ \\"$s\\" = *** ]' in text
