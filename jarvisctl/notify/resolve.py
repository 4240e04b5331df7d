"""The receivers of a project, ready to send: each receiver kind found, a plugin's parameters
validated by its own model, and every secret field rendered (env(), secret_file()) and added
to the secrets every output redacts. A mistake found here (a variable that is not set, a
rendered URL that is not one, a ca_file that is not a file) is a located ConfigError.

Resolved when notifications are to be sent (the daemon's start, `notify test`), so that a run
that sends nothing never needs SLACK_WEBHOOK_URL set."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jarvisctl.config.configfile import is_config_dir
from jarvisctl.config.models.notify import ReceiverParams, check_http_url
from jarvisctl.config.project import Project
from jarvisctl.config.templating.templates import TemplateError, Templates
from jarvisctl.config.validation import problems_from
from jarvisctl.config.yamlsrc import NodePath, display_path
from jarvisctl.core.errors import Location, ProblemCollector
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.notify.receivers.base import ReceiverKind
from jarvisctl.notify.receivers.registry import receiver_kind

URL_FIELDS = frozenset({"url"})


@frozen
class Integration:
    """One deliverable part of a receiver: a kind with its rendered parameters."""

    receiver: str
    kind: ReceiverKind[Any]
    params: ReceiverParams
    part: int = 0  # which of the kind's parts (an Apprise URL each)

    @property
    def name(self) -> str:
        return f"{self.receiver}/{self.kind.name}/{self.part}"


@frozen
class Receiver:
    name: str
    integrations: tuple[Integration, ...]


def resolve_receivers(
    project: Project, secrets: SecretValues, names: Iterable[str] | None = None
) -> dict[str, Receiver]:
    """The named receivers (all when `names` is None) of `project.notify`."""
    settings = project.notify
    if settings is None:
        return {}
    dirs = tuple(project.root / d for d in project.config.secret_dirs)
    resolver = _Resolver(project, Templates(project.root, secrets, dirs), secrets)
    wanted = settings.receivers if names is None else list(names)
    found = {name: resolver.receiver(name) for name in wanted}
    resolver.problems.raise_if_any()
    return found


class _Resolver:
    def __init__(self, project: Project, templates: Templates, secrets: SecretValues) -> None:
        self.project = project
        self.templates = templates
        self.secrets = secrets
        self.problems = ProblemCollector()

    def receiver(self, name: str) -> Receiver:
        assert self.project.notify is not None
        spec = self.project.notify.receivers[name]  # KeyError: not declared
        given: dict[str, Any] = {**spec.builtin(), **spec.plugins()}
        integrations: list[Integration] = []
        for kind_name, raw in given.items():
            path = ("notify", "receivers", name, kind_name)
            kind = self._kind(kind_name, path)
            params = self._params(kind, raw, path) if kind else None
            if kind is None or params is None:
                continue
            for part, piece in enumerate(kind.parts(params)):
                integrations.append(Integration(name, kind, piece, part))
        return Receiver(name, tuple(integrations))

    def _kind(self, name: str, path: NodePath) -> ReceiverKind[Any] | None:
        try:
            return receiver_kind(name)
        except KeyError:
            self.problems.add(self._locate(path), f"unknown receiver kind {name!r}")
            return None

    def _params(self, kind: ReceiverKind[Any], raw: Any, path: NodePath) -> ReceiverParams | None:
        if isinstance(raw, kind.params_model):
            params: ReceiverParams = raw
        else:  # a plugin's: checked by its own model, where it is written
            try:
                params = kind.params_model.model_validate(raw)
            except ValidationError as exc:
                source = self.project.source
                sub = source.sub(path) if source is not None else None
                if sub is None:
                    self.problems.add(self._locate(path), f"{kind.name}: {exc}")
                else:
                    self.problems.extend(problems_from(exc, kind.params_model, sub))
                return None
        rendered = {
            field: self._rendered(getattr(params, field), (*path, field))
            for field in params.secret_fields
            if getattr(params, field) is not None
        }
        ca_file = getattr(params, "ca_file", None)
        if ca_file is not None:
            rendered["ca_file"] = self._file(ca_file, (*path, "ca_file"))
        if any(value is None for value in rendered.values()):
            return None
        return params.model_copy(update=rendered)

    def _rendered(self, value: Any, path: NodePath) -> Any:
        if isinstance(value, list):
            items = [self._rendered(item, (*path, index)) for index, item in enumerate(value)]
            return None if None in items else items
        if "{{" not in value:
            self.secrets.add(value)  # written out in the file, it is a secret all the same
        where = self._locate(path)
        try:
            text = self.templates.render_value(value, {})
        except TemplateError as exc:
            self.problems.add(where, f"{_field(path)}: {exc}")
            return None
        if not isinstance(text, str) or not text.strip():
            self.problems.add(where, f"{_field(path)}: the value is empty")
            return None
        self.secrets.add(text)
        if path[-1] in URL_FIELDS:
            try:
                check_http_url(text)
            except ValueError as exc:  # the message never repeats the URL
                self.problems.add(where, f"{_field(path)}: the rendered value {exc}")
                return None
        return text

    def _file(self, name: str, path: NodePath) -> str | None:
        full = Path(name) if Path(name).is_absolute() else self.project.root / name
        if is_config_dir(full) or not _is_file(full):
            self.problems.add(self._locate(path), f"ca_file {name!r} is not a file")
            return None
        return str(full)

    def _locate(self, path: NodePath) -> Location | None:
        if self.project.source is not None:
            return self.project.source.locate(path)
        if self.project.config_file is not None:
            return Location(display_path(self.project.config_file))
        return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the filesystem, a NUL
        return False


def _field(path: NodePath) -> str:
    """`receiver 'ops': slack url` for ('notify', 'receivers', 'ops', 'slack', 'url')."""
    receiver, kind, *rest = path[2:]
    field = " ".join(str(part) for part in rest if isinstance(part, str))
    return f"receiver {receiver!r}: {kind} {field}".rstrip()
