"""The catalogue is planned every daemon cycle: its files are parsed again only when changed,
and a file with a mistake is reported every time, never remembered as good."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvisctl.core.errors import ConfigError
from jarvisctl.kinds.registry import load_registry
from jarvisctl.plan import catalogue
from jarvisctl.plan.catalogue import load_catalogue

ENTRY = "name: {name}\nkind: disk_usage\nunit: '%'\ndirection: above\n"


def load(directory: Path) -> set[str]:
    return set(load_catalogue([directory], [], load_registry()).checks)


def test_unchanged_files_are_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.yml").write_text(ENTRY.format(name="root_disk"))
    read: list[Path] = []
    real = catalogue.load_yaml_file

    def counting(path: Path) -> object:
        read.append(path)
        return real(path)

    monkeypatch.setattr(catalogue, "load_yaml_file", counting)
    assert load(tmp_path) == load(tmp_path) == {"root_disk"}
    assert read == [tmp_path / "a.yml"]
    (tmp_path / "a.yml").write_text(ENTRY.format(name="data_disk"))  # edited: read again
    assert load(tmp_path) == {"data_disk"}
    assert len(read) == 2


def test_a_broken_file_is_reported_each_time_until_fixed(tmp_path: Path) -> None:
    path = tmp_path / "b.yml"
    path.write_text(ENTRY.format(name="x") + "colour: blue\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"b\.yml:5:1: unknown key 'colour'"):
            load(tmp_path)
    path.write_text(ENTRY.format(name="fixed"))
    assert load(tmp_path) == {"fixed"}


def test_every_shipped_entry_names_its_kinds_parameters() -> None:
    """A run trusts the shipped entries (their kinds' modules are imported only when used):
    this is where they are checked, as an operator's entries are on every run."""
    from jarvisctl.plan.catalogue import shipped_root

    root = shipped_root()
    catalogue = load_catalogue(
        [root / "checks"], [root / "remediations"], load_registry(), trust_shipped=False
    )
    assert len(catalogue.checks) >= 26 and len(catalogue.remediations) >= 8


def test_an_operators_entry_with_an_unknown_parameter_is_refused(tmp_path: Path) -> None:
    from jarvisctl.core.errors import ConfigError

    (tmp_path / "mine.yml").write_text(
        "name: mine\nkind: disk_usage\nparams:\n  paht: {default: /}\n", encoding="utf-8"
    )
    try:
        load_catalogue([tmp_path], [], load_registry())
    except ConfigError as exc:
        assert "kind 'disk_usage' has no parameter 'paht'" in str(exc)
    else:
        raise AssertionError("an unknown parameter was accepted")
