"""`--limit` as ansible-core reads it: a host pattern whose `@file` terms are retry files."""

from __future__ import annotations

from pathlib import Path

from jarvisctl.config.configfile import display_path, read_config_text
from jarvisctl.config.inventory.patterns import split_pattern
from jarvisctl.core.errors import ConfigError, Location


def limit_terms(limit: str) -> list[str]:
    """The terms of a `--limit`, each `@path` replaced by the lines of that file (one pattern
    term per line, stripped; blank lines ignored), as `ansible-playbook --limit @site.retry`.
    A file that cannot be read is a ConfigError located at it."""
    terms: list[str] = []
    for term in split_pattern(limit):
        if term.startswith("@"):
            path = Path(term[1:])
            lines = [line.strip() for line in read_config_text(path, "limit file").split("\n")]
            if not any(lines):  # ansible-core would then run on every host
                raise ConfigError.at(
                    Location(display_path(path)),
                    f"--limit {limit!r}: the limit file holds no host pattern",
                    "one host name or pattern per line, as a .retry file lists them",
                )
            terms += [line for line in lines if line]
        else:
            terms.append(term)
    return terms
