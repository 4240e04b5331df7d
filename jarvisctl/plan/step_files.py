"""The controller's files a step reads (a copy's `src`), for one host.

A relative `src` is taken from the playbook's directory, an absolute one as it is: the playbook
is the operator's own code (its steps run commands as root on the hosts), so confining its
files to the project would protect nothing. What is read is bounded as every configuration file
is (a regular file of at most 4 MiB: no FIFO, device or endless file), and a plain file is read
once per plan, not once per host. With `template: true` the file is rendered with the host's
variables through the project's sandboxed Jinja2 (StrictUndefined, bounded output); when what
it renders holds a secret value, its sha256 becomes a secret as well (redacted from every output).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jarvisctl.config.configfile import read_config_bytes
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.core.errors import ConfigError
from jarvisctl.core.frozen import frozen


class StepFileError(ValueError):
    """A file a step names cannot be used: what is wrong, said for the step's `src`."""


@frozen
class FileCache:
    """Files read for a plan, by absolute path: their bytes, or why they cannot be read."""

    read: dict[Path, bytes | StepFileError]

    def bytes_of(self, path: Path, src: str) -> bytes:
        found = self.read.get(path)
        if found is None:
            try:
                found = read_config_bytes(path, "file")
            except ConfigError as exc:
                problem = exc.problems[0]
                hint = f" ({problem.hint})" if problem.hint else ""
                found = StepFileError(f"src {src!r} ({path}): {problem.message}{hint}")
            self.read[path] = found
        if isinstance(found, StepFileError):
            raise found
        return found


@frozen
class HostFiles:
    """StepFiles (kinds/step_base.py) for one host of one playbook."""

    base: Path  # the playbook's directory
    templates: Templates
    variables: Mapping[str, Any]
    cache: FileCache

    @property
    def directory(self) -> str:
        return str(self.base)

    def read(self, src: str, *, template: bool) -> bytes:
        if not src or "\0" in src:
            raise StepFileError(f"src {src!r} is not a path (e.g. files/app.conf)")
        path = Path(src) if Path(src).is_absolute() else self.base / src
        content = self.cache.bytes_of(path, src)
        if not template:
            return content
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise StepFileError(
                f"src {src!r} is not UTF-8 text (byte {exc.start}), and a template must be"
            ) from None
        try:
            rendered = self.templates.render_value(text, self.variables)
        except TemplateError as exc:
            # the message would quote the whole file: say where it is instead
            reason = str(exc).removeprefix(f"template {text!r}: ")
            raise StepFileError(f"template {src!r}: {reason}") from None
        content = str(rendered).encode("utf-8")
        self.digest_secret(content)
        return content

    def digest_secret(self, content: bytes) -> None:
        """Content that holds a secret value (a rendered template, a copy's `content:`) makes
        its sha256 secret too: a copy's probe compares it, and the digest of a short secret in
        a known template could be guessed, so every output redacts it as it redacts the value."""
        secrets = self.templates.secrets
        if any(value and value.encode() in content for value in secrets.frozen()):
            secrets.add(hashlib.sha256(content).hexdigest())
