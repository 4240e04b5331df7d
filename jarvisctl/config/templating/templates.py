"""Jinja2 templating in a bounded sandbox with StrictUndefined.

Two modes. `render_shell` is for text that becomes a shell command: every `{{ expression }}` is
quoted for the shell context it stands in (outside quotes, inside '...' or "...", in a
here-document; see shell_quoting), and a substitution where no quoting is safe is refused, so
inventory data cannot inject commands; `| raw` inserts trusted text as it is. `render_value` is
for parameter values: nothing is quoted, because kinds quote their parameters themselves when
they build a command. Both bound what a template may build (template_limits).
"""

from __future__ import annotations

import os
import stat
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jarvisctl.config.templating.cache import RenderedTemplates
from jarvisctl.config.templating.cache import is_template as _is_template
from jarvisctl.core.errors import EXIT_CONFIG, JarvisError
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues

# The quoting and the limits are imported when a template is first rendered, like Jinja2: a run
# whose files have no template does not pay for them.
if TYPE_CHECKING:
    import jinja2
    from jinja2.runtime import Context
    from jinja2.sandbox import SandboxedEnvironment

    from jarvisctl.config.templating.sandbox_ast import Prepared
    from jarvisctl.config.templating.shell_quoting import Slot

# Where a render's slots (the shell context of each substitution) travel in its variables: not
# a name a template can write.
SLOTS_KEY = "jarvisctl slots"


class TemplateError(JarvisError):
    """A template that cannot be rendered: a syntax error, an undefined variable, a substitution
    that cannot be quoted where it stands, or a template that builds too much."""

    exit_code = EXIT_CONFIG


class SecretSourceError(ValueError):
    """env() or secret_file() cannot give its value; the message says why and what to do."""


class RawText(str):
    """Text that `| raw` marked as trusted shell syntax, exempt from quoting."""

    __slots__ = ()


class QuotedText(str):
    """What `| quote` gives: the value shell-quoted as one word. In a shell template the value
    itself is quoted for where it stands instead, so that it is never quoted twice."""

    __slots__ = ("value",)
    value: str

    def __new__(cls, value: str) -> QuotedText:
        from jarvisctl.config.templating.shell_quoting import quote_word

        made = super().__new__(cls, quote_word(value))
        made.value = value
        return made


class ShellText(str):
    """A substitution already written for its shell context."""

    __slots__ = ()


def _raw(value: Any) -> RawText:
    return RawText(_plain(value))


def _quote_filter(value: Any) -> QuotedText:
    return QuotedText(_plain(value))


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _shell_substitution(context: Context, value: Any, index: int) -> ShellText:
    """`{{ value }}` in a shell template, written for the context of slot `index`."""
    from jarvisctl.config.templating.limits import budget_of
    from jarvisctl.config.templating.shell_quoting import (
        UnsafeContextError,
        check_raw,
        quote,
        quote_word,
    )

    slots: tuple[Slot, ...] = context.get(SLOTS_KEY, ())
    slot = slots[index]
    if isinstance(value, RawText):
        check_raw(slot, value)
        text = str(value)
    elif slot.context == "raw":
        raise UnsafeContextError("only `| raw` text may stand here, and this value is not raw text")
    elif isinstance(value, QuotedText):
        text = quote(slot, value.value)
    elif isinstance(value, list | tuple) and slot.context == "word":
        text = " ".join(quote_word(_plain(item)) for item in value)
    elif isinstance(value, list | tuple):
        text = quote(slot, " ".join(_plain(item) for item in value))
    else:
        text = quote(slot, _plain(value))
    budget_of(context).emit(len(text))
    return ShellText(text)


def _shell_finalize(context: Context, value: Any) -> Any:
    from jarvisctl.config.templating.limits import budget_of
    from jarvisctl.config.templating.shell_quoting import quote_word

    if isinstance(value, ShellText):
        return value
    # every substitution is rewritten into a _shell_substitution; anything else is one word
    text = value if isinstance(value, RawText) else quote_word(_plain(value))
    budget_of(context).emit(len(text))
    return text


def _value_finalize(context: Context, value: Any) -> Any:
    from jarvisctl.config.templating.limits import budget_of

    value = _plain(value) if isinstance(value, bool) or value is None else value
    if isinstance(value, str):
        budget_of(context).emit(len(value))
    return value


@frozen
class Templates:
    """The two rendering environments; build once per run and pass it along.

    Jinja2 is imported, and the environments built, at the first text that is a template: a
    run whose files have none does not pay for it. Each distinct template is parsed, checked
    and compiled once.
    """

    base: Path | None = None  # where secret_file() resolves relative paths (the project root)
    # values read by env() and secret_file(), and of variables marked secret: redacted on output
    secrets: SecretValues = field(default_factory=SecretValues)
    # besides `base`, the directories secret_file() may read from (jarvisctl.yml's secret_dirs)
    secret_dirs: tuple[Path, ...] = ()
    # compiled templates by (shell?, text); a cache, filled as templates are first rendered
    compiled: dict[tuple[bool, str], Prepared] = field(
        default_factory=dict, compare=False, repr=False
    )
    # outputs by template and the values it reads (template_cache): hosts render alike
    rendered: RenderedTemplates = field(
        default_factory=RenderedTemplates, compare=False, repr=False
    )

    @cached_property
    def shell(self) -> SandboxedEnvironment:
        return self._environment(_shell_finalize)

    @cached_property
    def value(self) -> SandboxedEnvironment:
        return self._environment(_value_finalize)

    def _environment(self, finalize: Any) -> SandboxedEnvironment:
        import jinja2

        from jarvisctl.config.templating.environment import BoundedSandbox
        from jarvisctl.config.templating.sandbox_ast import SHELL

        env = BoundedSandbox(
            undefined=jinja2.StrictUndefined,
            finalize=jinja2.pass_context(finalize),
            keep_trailing_newline=True,
        )
        env.filters["raw"] = _raw
        env.filters["quote"] = _quote_filter
        env.filters[SHELL] = jinja2.pass_context(_shell_substitution)
        env.globals["env"] = _secret_reader(self.secrets, _environment)
        base = self.base or Path.cwd()
        reader = _file_reader(base, (base, *self.secret_dirs))
        env.globals["secret_file"] = _secret_reader(self.secrets, reader)
        return env

    def render_shell(self, template: str, variables: Mapping[str, Any]) -> str:
        if not _is_template(template):
            return template
        return self._render(True, template, variables)

    def render_value(self, template: Any, variables: Mapping[str, Any]) -> Any:
        """Render strings anywhere inside a value (lists and mappings included)."""
        if isinstance(template, str):
            return self._render(False, template, variables) if _is_template(template) else template
        if isinstance(template, list):
            return [self.render_value(item, variables) for item in template]
        if isinstance(template, dict):
            return {k: self.render_value(v, variables) for k, v in template.items()}
        return template

    def _render(self, shell: bool, template: str, variables: Mapping[str, Any]) -> str:
        return self.rendered.render(
            (shell, template),
            template,
            variables,
            lambda: self.shell if shell else self.value,
            lambda: self._render_now(shell, template, variables),
        )

    def _render_now(self, shell: bool, template: str, variables: Mapping[str, Any]) -> str:
        import jinja2

        from jarvisctl.config.templating.limits import BUDGET_KEY, Budget

        try:
            prepared = self._prepared(shell, template)
            # the variables are looked up, not copied: a host's variables render when read
            # (inventory.rendering), and only those the template reads
            extra = {BUDGET_KEY: Budget(), SLOTS_KEY: prepared.slots}
            names = ChainMap(extra, variables, prepared.template.globals)  # type: ignore[arg-type]
            context = prepared.template.new_context(names, shared=True)  # type: ignore[arg-type]
            return _bounded_text(prepared.template.root_render_func(context))
        except TemplateError:
            raise  # a variable that this template reads cannot be rendered: it says why, where
        except (jinja2.TemplateError, JarvisError, *_TEMPLATE_FAILURES) as exc:
            raise TemplateError(f"template {template!r}: {_reason(exc)}") from None

    def _prepared(self, shell: bool, template: str) -> Prepared:
        key = (shell, template)
        found = self.compiled.get(key)
        if found is None:
            from jarvisctl.config.templating.sandbox_ast import prepare

            found = prepare(self.shell if shell else self.value, template, shell=shell)
            self.compiled[key] = found
        return found


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
        raise SecretSourceError(
            f"environment variable {name!r} is not set (export {name} in the environment "
            "jarvisctl runs in)"
        )
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
            raise SecretSourceError(f"secret_file: cannot read {str(path)!r}: {reason}") from None
        if not any(real.is_relative_to(root) for root in roots):
            shown = ", ".join(dict.fromkeys(str(root) for root in roots))
            raise SecretSourceError(
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
                raise SecretSourceError(f"secret_file: {str(real)!r} is not a regular file")
            data = handle.read(SECRET_FILE_LIMIT + 1)
    except OSError as exc:
        raise SecretSourceError(f"secret_file: cannot read {str(real)!r}: {exc.strerror}") from None
    if len(data) > SECRET_FILE_LIMIT:
        raise SecretSourceError(f"secret_file: {str(real)!r} is over {SECRET_FILE_LIMIT} bytes")
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:  # its message would quote the file's bytes
        raise SecretSourceError(f"secret_file: {str(real)!r} is not UTF-8 text") from None


# What a template's own expressions can raise (1 / 0, int('x'), a missing key, deep recursion).
_TEMPLATE_FAILURES = (
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
    RecursionError,
    MemoryError,
)


def _bounded_text(chunks: Any) -> str:
    """The rendered text, stopped as soon as it passes the limit."""
    from jarvisctl.config.templating.limits import MAX_TEXT, TemplateLimitError

    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_TEXT:
            raise TemplateLimitError(
                f"the rendered text is longer than {MAX_TEXT:,} characters (1 MiB), the limit "
                "of one rendered value"
            )
        parts.append(chunk)
    return "".join(parts)


def _reason(exc: Exception) -> str:
    """What went wrong, in the words of the message after `template '...':`."""
    import jinja2

    from jarvisctl.config.templating.limits import TemplateLimitError
    from jarvisctl.config.templating.shell_quoting import UnsafeContextError

    if isinstance(exc, UnsafeContextError | TemplateLimitError | SecretSourceError):
        return str(exc)
    if isinstance(exc, jinja2.UndefinedError):
        return _undefined_message(exc)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"syntax error: {exc.message}"
    if isinstance(exc, jinja2.TemplateError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "calls nest too deep (a macro that calls itself without end?)"
    if isinstance(exc, MemoryError):
        return "the template builds a value too large for memory"
    return f"{type(exc).__name__}: {exc}"


def _undefined_message(exc: jinja2.UndefinedError) -> str:
    text = str(exc.message or exc)
    if text.startswith("'") and text.endswith("' is undefined"):
        return f"undefined variable {text.removesuffix(' is undefined')}"
    return text
