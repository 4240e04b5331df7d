"""A play's `labels:` (added to each of its alerts): names as Prometheus writes them, values as
text, jarvisctl's own label names refused; every mistake at its key, with what is valid; the
labels on the plan, shown by `plan` and in `plan --json` (its schema)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from jarvisctl.cli.main import cli

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "jarvisctl/render/schemas/plan.schema.json").read_text()
)
PLAY = """\
- name: web
  hosts: localhost
  labels: {labels}
  checks:
    - {{name: load, use: load_per_core}}
"""


def plan(root: Path, labels: str, *options: str) -> tuple[int, str]:
    (root / "site.yml").write_text(PLAY.format(labels=labels))
    result = CliRunner().invoke(cli, ["plan", str(root / "site.yml"), *options])
    return result.exit_code, result.output


def test_labels_are_on_the_plan_in_text_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, text = plan(tmp_path, "{team: vision, rack: 3, site: lyon-2}")
    assert code == 0, text
    assert "    labels: rack=3, site=lyon-2, team=vision\n" in text
    code, out = plan(tmp_path, "{team: vision, rack: 3}", "--json")
    assert code == 0, out
    document = json.loads(out)
    jsonschema.validate(document, SCHEMA)
    assert document["playbooks"][0]["plays"][0]["labels"] == {"rack": "3", "team": "vision"}


def test_a_play_without_labels_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site.yml").write_text(
        "- {name: web, hosts: localhost, checks: [{name: load, use: load_per_core}]}\n"
    )
    result = CliRunner().invoke(cli, ["plan", "site.yml", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    jsonschema.validate(document, SCHEMA)
    assert document["playbooks"][0]["plays"][0]["labels"] == {}
    assert "labels:" not in CliRunner().invoke(cli, ["plan", "site.yml"]).output


@pytest.mark.parametrize(
    ("labels", "column", "message"),
    [
        (
            "{host: db}",
            12,
            "'host': label 'host' is set by jarvisctl on every alert it makes (reserved: "
            "alertname, host, check, play, severity, backup): give yours another name",
        ),
        ("{severity: low}", 12, "'severity': label 'severity' is set by jarvisctl"),
        ("{alertname: x}", 12, "'alertname': label 'alertname' is set by jarvisctl"),
        (
            "{bad-name: x}",
            12,
            "'bad-name': invalid label name 'bad-name' (a label name: a letter or '_', then "
            "letters, digits or '_', e.g. team)",
        ),
        ("{__meta: x}", 12, "'__meta': label '__meta': names starting with '__' are reserved"),
        ("{team: ''}", 18, "'team': a label's value is empty"),
        ("{team: 1.5}", 18, "'team': a label's value is text (quote it, e.g. 'yes')"),
        ("{team: yes}", 18, "'team': a label's value is text"),
        ("{team: [a, b]}", 18, "'team': a label's value is text"),
        ("{team: '{{ owner }}'}", 18, "'team': a label's value is written as is, not a template"),
        ("[team]", 11, "labels"),
    ],
)
def test_each_mistake_is_located_and_says_what_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, labels: str, column: int, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = plan(tmp_path, labels)
    assert code != 0
    assert f"site.yml:3:{column}: " in out, out
    assert message in out, out
    assert "Traceback" not in out


def test_every_wrong_label_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site.yml").write_text(
        textwrap.dedent(
            """\
            - name: web
              hosts: localhost
              labels:
                team: vision
                host: db
                play: x
            """
        )
    )
    result = CliRunner().invoke(cli, ["plan", "site.yml"])
    assert result.exit_code != 0
    assert "site.yml:5:5: 'host': label 'host' is set by jarvisctl" in result.output
    assert "site.yml:6:5: 'play': label 'play' is set by jarvisctl" in result.output
