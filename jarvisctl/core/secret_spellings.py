"""Every way a secret can be spelt in what jarvisctl writes, and one pattern that finds them all.

A secret rarely leaves the program as it is: it is shell-quoted into a command (outside quotes,
inside '...' or inside "..."), that command is JSON-encoded into the journal or `--json`, an
error message reprs it, JUnit and HTML reports XML-escape it, Prometheus escapes label values,
the daemon's logs JSON-encode the message again. Redacting the final text therefore needs the
secret in each spelling these encoders produce, and in the spellings of spellings (two layers
of containers: JSON of a repr of a shell-quoted value, XML of a repr ...).

A secret has a few hundred spellings. Rather than one regex of all of them (compiling it takes
seconds for a long secret such as a private key), text is first searched for the secret's key
(`search_key`), and only the spellings of secrets whose key is present are replaced.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterable

from jarvisctl.core.errors import escape_unprintable

Spell = Callable[[str], str]


def _single_quoted_body(text: str) -> str:
    """Inside '...' as shlex.quote writes a quote: close, "'", reopen."""
    return text.replace("'", "'\"'\"'")


def single_quoted_posix(text: str) -> str:
    """Inside '...', the POSIX idiom for a quote: close, \\', reopen."""
    return text.replace("'", "'\\''")


def double_quoted_body(text: str) -> str:
    """Inside "...": backslash before \\ " $ `."""
    return re.sub(r'([\\"$`])', r"\\\1", text)


def heredoc_body(text: str) -> str:
    """In a here-document with an unquoted delimiter: backslash before \\ $ `."""
    return re.sub(r"([\\$`])", r"\\\1", text)


# how a shell command can carry the value (a quoted here-document carries it plain)
SHELL: tuple[Spell, ...] = (
    shlex.quote,
    _single_quoted_body,
    single_quoted_posix,
    double_quoted_body,
    heredoc_body,
)


def _json_ascii(text: str) -> str:
    return json.dumps(text)[1:-1]


def _json_unicode(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _repr_quote_escaped(text: str) -> str:
    """repr() inside '...' (a quote escaped): a leading " forces that delimiter."""
    return repr('"' + text)[2:-1]


def _repr_plain_quotes(text: str) -> str:
    """repr() inside "..." (a quote as is)."""
    return _repr_quote_escaped(text).replace("\\'", "'")


def _ascii_quote_escaped(text: str) -> str:
    return ascii('"' + text)[2:-1]


def _ascii_plain_quotes(text: str) -> str:
    return _ascii_quote_escaped(text).replace("\\'", "'")


def _unicode_escape(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_attribute(text: str) -> str:
    """As ElementTree writes an attribute value."""
    escaped = _xml_text(text).replace('"', "&quot;").replace("\n", "&#10;")
    return escaped.replace("\r", "&#13;").replace("\t", "&#09;")


def _markupsafe(text: str) -> str:
    """As Jinja2's autoescape (MarkupSafe) writes text into HTML."""
    return _xml_text(text).replace('"', "&#34;").replace("'", "&#39;")


def _xml_apos(text: str) -> str:
    return _xml_text(text).replace('"', "&quot;").replace("'", "&apos;")


def _prometheus_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _html(text: str) -> str:
    import html  # here: most commands have no secret, and every one would pay the import

    return html.escape(text)


def _url_path(text: str) -> str:
    from urllib.parse import quote

    return quote(text)


def _url_component(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _url_form(text: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(text)


# how a container format writes text it is given
CONTAINERS: tuple[Spell, ...] = (
    _json_ascii,
    _json_unicode,
    _repr_quote_escaped,
    _repr_plain_quotes,
    _ascii_quote_escaped,
    _ascii_plain_quotes,
    _unicode_escape,
    _xml_text,
    _xml_attribute,
    _html,
    _markupsafe,
    _xml_apos,
    _prometheus_label,
    escape_unprintable,  # a located error's message (jarvisctl.core.errors.Problem)
)
# encodings that are only ever the outermost layer
OUTERMOST: tuple[Spell, ...] = (_url_path, _url_component, _url_form)


def spellings(secret: str) -> frozenset[str]:
    """The secret as it can appear in output: plain, in a shell context, then inside up to two
    layers of containers (a JSON log line of a repr in an error message of a quoted command)."""
    shell = {secret, *(spell(secret) for spell in SHELL)}
    once = shell | _apply(CONTAINERS, shell)
    twice = once | _apply(CONTAINERS, once)
    return frozenset(twice | _apply(OUTERMOST, shell))


def _apply(spells: Iterable[Spell], texts: Iterable[str]) -> set[str]:
    listed = list(texts)
    return {spell(text) for spell in spells for text in listed}


def search_key(secret: str) -> str | None:
    """The secret's longest run of letters and digits: no encoder above changes those, so text
    without it holds no spelling of the secret (a quick test before the many replacements)."""
    runs = re.findall(r"[A-Za-z0-9]+", secret)
    return max(runs, key=len) if runs else None
