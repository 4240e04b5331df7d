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


def test_a_plan_reads_only_the_shipped_entries_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading all 42 shipped files cost every run's start 13 ms; each shipped file is named as
    its entry, so a name finds its file unread, and listing the names reads none."""
    from jarvisctl.plan.catalogue import shipped_root

    (tmp_path / "own.yml").write_text(ENTRY.format(name="disk_usage"))  # overrides the shipped
    read: list[str] = []
    real = catalogue.load_yaml_file

    def counting(path: Path) -> object:
        read.append(path.name)
        return real(path)

    monkeypatch.setattr(catalogue, "_PARSED", {m: catalogue._parser(m) for m in catalogue._PARSED})
    monkeypatch.setattr(catalogue, "load_yaml_file", counting)
    root = shipped_root()
    loaded = load_catalogue([tmp_path, root / "checks"], [root / "remediations"], load_registry())
    assert {"disk_usage", "memory_available", "tcp_port"} <= set(loaded.checks)
    assert "restart_service" in loaded.remediations and "nothing_such" not in loaded.checks
    assert read == ["own.yml"]
    assert loaded.checks["memory_available"].definition.name == "memory_available"
    assert loaded.checks["disk_usage"].location.file.endswith("own.yml")  # the earlier folder's
    assert read == ["own.yml", "memory_available.yml"]
    names = list(loaded.checks)
    loaded.checks["memory_available"]  # once
    assert read == ["own.yml", "memory_available.yml"]
    assert list(loaded.checks) == names and names[0] == "disk_usage"  # the folders' order
    assert len(loaded.checks) == len(names) == len(set(names))


def test_every_shipped_file_is_named_as_its_entry() -> None:
    """What lets a plan find a shipped entry by its name without reading the others."""
    from jarvisctl.plan.catalogue import shipped_root

    root = shipped_root()
    for folder in (root / "checks", root / "remediations"):
        for path in sorted(folder.glob("*.y*ml")):
            document = catalogue.load_yaml_file(path)
            assert document.data["name"] == path.stem, path
