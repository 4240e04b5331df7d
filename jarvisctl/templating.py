"""Jinja2 templating in a sandbox with StrictUndefined.

Two modes. `render_shell` is for text that becomes a shell command: every `{{ expression }}` is
shell-quoted, so inventory data cannot inject commands, unless the template says `| raw`.
`render_value` is for parameter values: nothing is quoted, because kinds quote their parameters
themselves when they build a command.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jarvisctl.errors import JarvisError
from jarvisctl.secrets import SecretValues

if TYPE_CHECKING:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment


class TemplateError(JarvisError):
    """A template that cannot be rendered: a syntax error or an undefined variable."""


class RawText(str):
    """Text that `| raw` marked as trusted shell syntax, exempt from quoting."""

    __slots__ = ()


def _raw(value: Any) -> RawText:
    return RawText(value)


def _quote(value: Any) -> str:
    if isinstance(value, RawText):
        return str(value)
    if isinstance(value, list | tuple):
        return " ".join(shlex.quote(str(item)) for item in value)
    return shlex.quote(_plain(value))


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _plain_finalize(value: Any) -> Any:
    return _plain(value) if isinstance(value, bool) or value is None else value


@dataclass(frozen=True)
class Templates:
    """The two rendering environments; build once per run and pass it along.

    Jinja2 is imported, and the environments built, at the first text that is a template: a
    run whose files have none does not pay for it.
    """

    base: Path | None = None  # where secret_file() resolves relative paths (the project root)
    # values read by env() and secret_file(), and of variables marked secret: redacted on output
    secrets: SecretValues = field(default_factory=SecretValues)
    # besides `base`, the directories secret_file() may read from (jarvisctl.yml's secret_dirs)
    secret_dirs: tuple[Path, ...] = ()

    @cached_property
    def shell(self) -> SandboxedEnvironment:
        return self._environment(_quote)

    @cached_property
    def value(self) -> SandboxedEnvironment:
        return self._environment(_plain_finalize)

    def _environment(self, finalize: Any) -> SandboxedEnvironment:
        import jinja2
        from jinja2.sandbox import SandboxedEnvironment

        env = SandboxedEnvironment(
            undefined=jinja2.StrictUndefined, finalize=finalize, keep_trailing_newline=True
        )
        env.filters["raw"] = _raw
        env.filters["quote"] = lambda v: shlex.quote(_plain(v))
        env.globals["env"] = _secret_reader(self.secrets, _environment)
        base = self.base or Path.cwd()
        reader = _file_reader(base, (base, *self.secret_dirs))
        env.globals["secret_file"] = _secret_reader(self.secrets, reader)
        return env

    def render_shell(self, template: str, variables: Mapping[str, Any]) -> str:
        return _render(self.shell, template, variables) if _is_template(template) else template

    def render_value(self, template: Any, variables: Mapping[str, Any]) -> Any:
        """Render strings anywhere inside a value (lists and mappings included)."""
        if isinstance(template, str):
            return _render(self.value, template, variables) if _is_template(template) else template
        if isinstance(template, list):
            return [self.render_value(item, variables) for item in template]
        if isinstance(template, dict):
            return {k: self.render_value(v, variables) for k, v in template.items()}
        return template


def _secret_reader(secrets: SecretValues, read: Any) -> Any:
    def reader(*args: Any) -> str:
        text = str(read(*args))
        secrets.add(text)
        return text

    return reader


def _environment(name: str, default: Any = None) -> str:
    """env('NAME') or env('NAME', 'fallback'): a secret from the controller's environment."""
    value = os.environ.get(str(name))
    if value is not None:
        return value
    if default is None:
        raise ValueError(f"environment variable {name!r} is not set")
    return str(default)


SECRET_FILE_LIMIT = 64 * 1024  # a secret is a password or a key, not a data file


def _file_reader(base: Path, allowed: tuple[Path, ...]) -> Any:
    def read(path: str) -> str:
        """secret_file('path'): a file's content without its trailing newline, from a regular
        file inside the project or a directory of secret_dirs (symlinks and .. resolved)."""
        try:
            real = (base / str(path)).resolve(strict=True)
            roots = [root.resolve() for root in allowed]
        except (OSError, RuntimeError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"secret_file: cannot read {str(path)!r}: {reason}") from None
        if not any(real.is_relative_to(root) for root in roots):
            shown = ", ".join(dict.fromkeys(str(root) for root in roots))
            raise ValueError(
                f"secret_file: {str(path)!r} is {str(real)!r}, outside the directories secrets "
                f"are read from ({shown}; add its directory to secret_dirs in jarvisctl.yml)"
            )
        return _read_secret_file(real)

    return read


def _read_secret_file(real: Path) -> str:
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC  # a FIFO must not hang
    try:
        fd = os.open(real, flags)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ValueError(f"secret_file: {str(real)!r} is not a regular file")
            data = handle.read(SECRET_FILE_LIMIT + 1)
    except OSError as exc:
        raise ValueError(f"secret_file: cannot read {str(real)!r}: {exc.strerror}") from None
    if len(data) > SECRET_FILE_LIMIT:
        raise ValueError(f"secret_file: {str(real)!r} is over {SECRET_FILE_LIMIT} bytes")
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:  # its message would quote the file's bytes
        raise ValueError(f"secret_file: {str(real)!r} is not UTF-8 text") from None


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def _render(env: SandboxedEnvironment, template: str, variables: Mapping[str, Any]) -> str:
    import jinja2

    try:
        return env.from_string(template).render(variables)
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template {template!r}: {_undefined_message(exc)}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {template!r}: syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {template!r}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError(f"template {template!r}: {type(exc).__name__}: {exc}") from None


def _undefined_message(exc: jinja2.UndefinedError) -> str:
    text = str(exc.message or exc)
    if text.startswith("'") and text.endswith("' is undefined"):
        return f"undefined variable {text.removesuffix(' is undefined')}"
    return text
