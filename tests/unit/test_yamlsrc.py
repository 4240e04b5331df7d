from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jarvisctl.config import yamlsrc
from jarvisctl.config.yamlsrc import load_yaml_file, load_yaml_text
from jarvisctl.core.errors import ConfigError, Location


def test_every_node_has_its_location() -> None:
    doc = load_yaml_text("a:\n  b: [1, {c: 2}]\n", "f.yml")
    assert doc.data == {"a": {"b": [1, {"c": 2}]}}
    assert doc.source.locate(("a", "b", 1, "c")) == Location("f.yml", 2, 14)
    assert doc.source.locate(("a", "b"), key=True) == Location("f.yml", 2, 3)


def test_missing_node_falls_back_to_nearest_ancestor() -> None:
    doc = load_yaml_text("a:\n  b: 1\n", "f.yml")
    assert doc.source.locate(("a", "nope", 3)) == Location("f.yml", 2, 3)


def test_sub_map_is_relative() -> None:
    doc = load_yaml_text("- x: 1\n- y: 2\n", "f.yml")
    assert doc.source.sub((1,)).locate(("y",)) == Location("f.yml", 2, 6)


def test_boolean_looking_keys_stay_text_but_values_are_yaml_booleans() -> None:
    doc = load_yaml_text("on: [critical]\nyes: 1\nbecome: yes\n", "f.yml")
    assert doc.data == {"on": ["critical"], "yes": 1, "become": True}


def test_merge_keys_may_be_overridden_but_duplicates_are_errors() -> None:
    doc = load_yaml_text("base: &b {x: 1, y: 2}\na:\n  <<: *b\n  y: 3\n", "f.yml")
    assert doc.data["a"] == {"x": 1, "y": 3}
    with pytest.raises(ConfigError) as err:
        load_yaml_text("a: 1\nb: 2\na: 3\n", "f.yml")
    assert str(err.value).startswith("f.yml:3:1: YAML syntax error: duplicate key 'a'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1\n", "f.yml:2:1: YAML syntax error: expected ',' or ']'"),
        ("a: 1\n---\nb: 2\n", "f.yml:2:1: more than one YAML document in the file"),
        ("a:\n\tb: 1\n", "f.yml:2:1: YAML syntax error: found character '\\t'"),
    ],
)
def test_syntax_errors_are_located(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_yaml_text(text, "f.yml")
    assert str(err.value).startswith(expected)


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml_file(tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_yaml_file(tmp_path)
    (tmp_path / "bin.yml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"bin\.yml:1:1: not UTF-8 text \(byte 0xff\)"):
        load_yaml_file(tmp_path / "bin.yml")


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_libyaml_parses_and_pyyaml_words_the_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    parsers: list[str] = []
    real = yamlsrc._load

    def spy(text: str, name: str, parser: type[yaml.SafeLoader]) -> yamlsrc.Document:
        parsers.append(parser.__name__)
        return real(text, name, parser)

    monkeypatch.setattr(yamlsrc, "_load", spy)
    good = load_yaml_text("on: [critical]\nport: 22\n", "p.yml")
    assert good.data == {"on": ["critical"], "port": 22}
    assert good.source.keys[("port",)] == Location("p.yml", 2, 1)
    assert parsers == ["CSafeLoader"]
    with pytest.raises(ConfigError) as caught:
        load_yaml_text("a: [1\n", "p.yml")
    assert parsers == ["CSafeLoader", "CSafeLoader", "SafeLoader"]
    assert "expected ',' or ']', but got '<stream end>'" in str(caught.value)
