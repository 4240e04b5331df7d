"""The token the daemon's API requires of a write (`daemon: {http: {token: ...}}` in
jarvisctl.yml), rendered once at the daemon's start from env() or secret_file() alone, and
added to the daemon's secrets: no log line, answer or journal ever shows it. A mistake here
(the variable not set, a token too short to resist guessing) stops the daemon at its start,
located at the line that names the token."""

from __future__ import annotations

import re

from jarvisctl.config.project import Project
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.config.yamlsrc import display_path
from jarvisctl.core.errors import ConfigError, Location
from jarvisctl.core.secrets import SecretValues

MIN_LENGTH = 16
TOKEN = re.compile(r"^[\x21-\x7e]+$")  # what an Authorization header carries unchanged
HINT = "e.g. export JARVISCTL_API_TOKEN=$(openssl rand -hex 32)"


def api_token(project: Project, secrets: SecretValues) -> str | None:
    """The rendered token, or None when none is configured (the API then refuses writes)."""
    written = project.config.daemon.http.token
    if written is None:
        return None
    where = _where(project)
    dirs = tuple(project.root / d for d in project.config.secret_dirs)
    templates = Templates(project.root, secrets, dirs)
    try:
        token = templates.render_value(written, {})
    except TemplateError as exc:
        raise ConfigError.at(where, f"daemon.http.token: {exc}") from None
    if not isinstance(token, str) or not token:
        raise ConfigError.at(where, "daemon.http.token: the token is empty", HINT)
    if token not in secrets.frozen():
        secrets.add(token)  # redacted, although written in the file
        raise ConfigError.at(
            where,
            "daemon.http.token: the token must come from env() or secret_file() alone, so "
            "that it is never written in a file",
            "e.g. token: \"{{ env('JARVISCTL_API_TOKEN') }}\"",
        )
    if not TOKEN.match(token):
        raise ConfigError.at(
            where, "daemon.http.token: the token must be printable ASCII without spaces", HINT
        )
    if len(token) < MIN_LENGTH:
        raise ConfigError.at(
            where,
            f"daemon.http.token: the token is {len(token)} characters long; at least "
            f"{MIN_LENGTH}, so that it cannot be guessed",
            HINT,
        )
    return token


def _where(project: Project) -> Location | None:
    if project.source is not None:
        return project.source.locate(("daemon", "http", "token"))
    if project.config_file is not None:
        return Location(display_path(project.config_file))
    return None
