"""Receiver kinds: the built-in ones named as their classes say, and a third party's found
through the `jarvisctl.receivers` entry point group, its parameters checked by its own model
where they are written."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from importlib.metadata import EntryPoint, EntryPoints
from pathlib import Path
from typing import ClassVar, get_args

import pytest

from jarvisctl.config.models.notify import (
    BUILTIN_RECEIVER_KINDS,
    ReceiverParams,
    ReceiverSpec,
    SecretReference,
)
from jarvisctl.config.project import load_project
from jarvisctl.core import entry_points
from jarvisctl.core.alerts import Notification
from jarvisctl.core.errors import ConfigError
from jarvisctl.core.secrets import SecretValues
from jarvisctl.notify.receivers import registry
from jarvisctl.notify.receivers.base import ReceiverKind, SendContext
from jarvisctl.notify.receivers.registry import BUILTIN_RECEIVERS, receiver_kind
from jarvisctl.notify.resolve import resolve_receivers


class PagerParams(ReceiverParams):
    secret_fields: ClassVar[tuple[str, ...]] = ("key",)

    key: SecretReference
    level: int = 1


class Pager(ReceiverKind[PagerParams]):
    name = "pager"
    params_model = PagerParams
    sent: ClassVar[list[tuple[PagerParams, str]]] = []

    def send(self, params: PagerParams, notification: Notification, context: SendContext) -> None:
        self.sent.append((params, notification.key))


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    points: list[EntryPoint] = []
    monkeypatch.setattr(entry_points, "_installed", lambda: EntryPoints(points))
    registry._plugins.cache_clear()
    yield points
    registry._plugins.cache_clear()


def test_each_built_in_kind_is_named_as_its_class_says_with_the_languages_model() -> None:
    assert sorted(BUILTIN_RECEIVERS) == sorted(BUILTIN_RECEIVER_KINDS)
    for name, spec in BUILTIN_RECEIVERS.items():
        module, cls_name = spec.split(":")
        cls = getattr(importlib.import_module(f"jarvisctl.notify.receivers.{module}"), cls_name)
        assert issubclass(cls, ReceiverKind) and cls.name == name, spec
        field = ReceiverSpec.model_fields[name].annotation
        assert cls.params_model in _models(field), (name, field)
        assert isinstance(receiver_kind(name), cls)
    with pytest.raises(KeyError):
        receiver_kind("carrier_pigeon")


def _models(annotation: object) -> set[object]:
    found: set[object] = set()
    for arg in get_args(annotation) or (annotation,):
        inner = get_args(arg)
        found |= {arg} | ({inner[0]} if inner else set())
    return found


def project_with(root: Path, receiver: str) -> Path:
    path = root / "jarvisctl.yml"
    path.write_text(f"notify:\n  receivers:\n    p: {receiver}\n  route: {{receiver: p}}\n")
    return path


def test_a_plugin_kind_is_written_like_a_built_in_one(
    installed: list[EntryPoint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed.append(EntryPoint("pager", f"{__name__}:Pager", "jarvisctl.receivers"))
    monkeypatch.setenv("PAGER_KEY", "pg-5ecret")
    project = load_project(project_with(tmp_path, "{pager: {key: \"{{ env('PAGER_KEY') }}\"}}"))
    secrets = SecretValues()
    (integration,) = resolve_receivers(project, secrets)["p"].integrations
    assert isinstance(integration.kind, Pager)
    assert isinstance(integration.params, PagerParams)
    assert (integration.params.key, integration.params.level) == ("pg-5ecret", 1)
    assert "pg-5ecret" in secrets.frozen()


def test_a_plugins_mistakes_are_located_by_its_own_model(
    installed: list[EntryPoint], tmp_path: Path
) -> None:
    installed.append(EntryPoint("pager", f"{__name__}:Pager", "jarvisctl.receivers"))
    project = load_project(project_with(tmp_path, "{pager: {key: plain, levl: 2}}"))
    with pytest.raises(ConfigError) as raised:
        resolve_receivers(project, SecretValues())
    found = [str(p).replace(str(tmp_path) + "/", "") for p in raised.value.problems]
    assert found == [
        "jarvisctl.yml:3:22: 'key': write where it comes from, not the secret itself: "
        "\"{{ env('SMTP_PASSWORD') }}\" or \"{{ secret_file('secrets/smtp') }}\"",
        "jarvisctl.yml:3:29: unknown key 'levl' (did you mean 'level'? valid: timeout, key, level)",
    ]


def test_without_the_plugin_its_kind_is_unknown_where_written(
    installed: list[EntryPoint], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_project(project_with(tmp_path, "{pager: {key: x}}"))
    (problem,) = raised.value.problems
    assert str(problem).endswith(
        "jarvisctl.yml:3:9: receiver 'p': unknown receiver kind 'pager' (known: alertmanager, "
        "apprise, email, slack, webhook)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no_such_module:Kind", "cannot load plugin: No module named"),
        ("jarvisctl.core.alerts:Labels", "is not a subclass of ReceiverKind"),
    ],
)
def test_a_broken_plugin_is_a_located_error(
    installed: list[EntryPoint], tmp_path: Path, value: str, message: str
) -> None:
    installed.append(EntryPoint("pager", value, "jarvisctl.receivers"))
    project = load_project(project_with(tmp_path, "{pager: {key: x}}"))
    with pytest.raises(ConfigError, match=f"entry point pager = {value}.*{message}"):
        resolve_receivers(project, SecretValues())
