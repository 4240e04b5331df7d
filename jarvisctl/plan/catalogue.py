"""The catalogues of named check and remediation definitions.

Directories are searched in order and the first definition of a name wins, so a project's own
`checks/` overrides an entry shipped inside the package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import jarvisctl
from jarvisctl.config.configfile import (
    config_exists,
    is_config_dir,
    list_config_dir,
    read_config_bytes,
)
from jarvisctl.config.models.catalogue import CheckDefinition, RemediationDefinition
from jarvisctl.config.validation import validate_document
from jarvisctl.config.yamlsrc import SourceMap, load_yaml_file
from jarvisctl.core.errors import ConfigError, Location, ProblemCollector, known_list
from jarvisctl.core.filecache import FileCache
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.registry import KindRegistry

D = TypeVar("D", CheckDefinition, RemediationDefinition)


@frozen
class Entry(Generic[D]):
    """A named definition, validated, and where it was read (for the plan's messages)."""

    definition: D
    location: Location
    source: SourceMap


@frozen
class Catalogue:
    """The definitions a plan's `use:` may name, by name: the first directory's win."""

    checks: Mapping[str, Entry[CheckDefinition]]
    remediations: Mapping[str, Entry[RemediationDefinition]]


def shipped_root() -> Path:
    """Where the shipped catalogue lives: inside the wheel, or at the top of a source checkout."""
    package = Path(jarvisctl.__file__).resolve().parent
    installed = package / "_catalogue"
    return installed if installed.is_dir() else package.parent


def search_dirs(
    kind: str, project_root: Path, extra: Sequence[str], beside: Sequence[Path]
) -> list[Path]:
    """Configured dirs, then `<kind>/` beside the playbooks and in the project, then shipped."""
    dirs = [project_root / p for p in extra]
    for folder in beside:
        dirs += [folder / kind, folder.parent / kind]
    dirs += [project_root / kind, shipped_root() / kind]
    unique: list[Path] = []
    for folder in dirs:
        if not is_config_dir(folder):
            _refuse_broken(folder)
            continue
        resolved = folder.resolve()
        if resolved not in unique:
            unique.append(resolved)
    return unique


def _refuse_broken(folder: Path) -> None:
    """A catalogue directory that is a dangling link, a symlink loop or a FIFO is a mistake;
    a plain file of that name is someone else's and is passed over."""
    if not config_exists(folder) or (folder.is_file() and not folder.is_symlink()):
        return
    try:
        read_config_bytes(folder)  # says what is wrong with it, as for any other file
    except ConfigError as exc:
        raise ConfigError.at(
            exc.problems[0].location,
            exc.problems[0].message,
            f"expected a directory of {folder.name}",
        ) from None


def load_catalogue(
    check_dirs: Sequence[Path],
    remediation_dirs: Sequence[Path],
    registry: KindRegistry,
    trust_shipped: bool = True,
) -> Catalogue:
    """`trust_shipped`: the shipped entries' parameters are not checked against their kinds
    (that would import every kind's module on every run: tests/unit/test_catalogue.py checks
    them, with trust_shipped=False); an operator's entries always are."""
    problems = ProblemCollector()
    trusted = shipped_root() if trust_shipped else None
    checks = _load_entries(check_dirs, CheckDefinition, registry.checks, problems, trusted)
    remediations = _load_entries(
        remediation_dirs, RemediationDefinition, registry.remediations, problems, trusted
    )
    problems.raise_if_any()
    return Catalogue(checks, remediations)


def _load_entries(
    dirs: Sequence[Path],
    model: type[D],
    kinds: Mapping[str, Any],
    problems: ProblemCollector,
    trusted: Path | None,
) -> Mapping[str, Entry[D]]:
    entries: dict[str, Entry[D]] = {}
    unread: dict[str, Path] = {}  # the shipped folder's, by name: read when first looked up
    directory: Path
    for directory in dirs:
        in_folder: dict[str, Entry[D]] = {}
        try:
            files = [p for p in list_config_dir(directory) if p.suffix in (".yml", ".yaml")]
        except ConfigError as exc:
            problems.absorb(exc)
            continue
        if _within(directory, trusted):
            for path in files:  # each shipped file is named as its entry (test_catalogue_cache)
                if path.stem not in entries:
                    unread.setdefault(path.stem, path)
            continue
        for path in files:  # the reader refuses a directory, FIFO or broken link named x.yml
            entry = _load_entry(path, model, kinds, problems, False)
            if entry is None:
                continue
            name = entry.definition.name
            if name in in_folder:
                problems.add(
                    entry.source.locate(("name",)),
                    f"duplicate definition '{name}'",
                    f"also defined at {in_folder[name].location}",
                )
            in_folder[name] = entry
        for name, found in in_folder.items():
            if name not in unread:  # earlier directories win
                entries.setdefault(name, found)
    if not unread:
        return entries
    return _Shipped(entries, unread, lambda path: _shipped_entry(path, model, kinds))


class _Shipped(Mapping[str, Entry[D]]):
    """The entries read, then the shipped ones, each parsed when first looked up: a run reads
    the few its playbooks name (42 files cost a run's start 13 ms), `jarvisctl checks` all."""

    def __init__(
        self,
        read: dict[str, Entry[D]],
        unread: dict[str, Path],
        parse: Callable[[Path], Entry[D]],
    ) -> None:
        self._read: dict[str, Entry[D]] = dict(read)
        self._unread = unread
        self._parse: Callable[[Path], Entry[D]] = parse
        # the names in the order the folders gave them, however many were looked up since
        self._names = (*read, *(name for name in unread if name not in read))

    def __getitem__(self, name: str) -> Entry[D]:
        found = self._read.get(name)
        if found is None:
            found = self._read[name] = self._parse(self._unread[name])
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._read or name in self._unread

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _shipped_entry(path: Path, model: type[D], kinds: Mapping[str, Any]) -> Entry[D]:
    problems = ProblemCollector()
    entry = _load_entry(path, model, kinds, problems, True)
    problems.raise_if_any()
    assert entry is not None  # else a problem was raised
    return entry


def _within(directory: Path, root: Path | None) -> bool:
    """Whether `directory` is the shipped catalogue's checks/ or remediations/ folder."""
    if root is None:
        return False
    try:
        return directory.resolve() in (root / "checks", root / "remediations")
    except (OSError, RuntimeError):  # a loop: an operator's, reported where it is read
        return False


def _load_entry(
    path: Path,
    model: type[D],
    kinds: Mapping[str, Any],
    problems: ProblemCollector,
    shipped: bool,
) -> Entry[D] | None:
    try:
        definition, source = _PARSED[model].get(path)
    except ConfigError as exc:
        problems.absorb(exc)
        return None
    if shipped and definition.kind in kinds:
        return Entry(definition, source.locate(()), source)
    kind = kinds.get(definition.kind)
    if kind is None:
        problems.add(
            source.locate(("kind",)),
            f"unknown kind '{definition.kind}'",
            known_list(kinds, near=definition.kind),
        )
        return None
    known_params = kind.params_model.model_fields
    for param in definition.params:
        if param not in known_params:
            problems.add(
                source.locate(("params", param), key=True),
                f"kind '{kind.name}' has no parameter '{param}'",
                known_list(known_params),
            )
    return Entry(definition, source.locate(()), source)


def _parser(model: type[D]) -> FileCache[tuple[D, SourceMap]]:
    """A file's definition, parsed and validated again only when the file changes (a daemon
    plans every cycle). A file with a mistake is not kept: its problems are reported each time."""

    def parse(path: Path) -> tuple[D, SourceMap]:
        document = load_yaml_file(path)
        return validate_document(model, document, "a catalogue entry"), document.source

    return FileCache(parse, read_config_bytes)


_PARSED: dict[type[Any], FileCache[Any]] = {
    CheckDefinition: _parser(CheckDefinition),
    RemediationDefinition: _parser(RemediationDefinition),
}
