"""The `docker` step kind: pull an image, and (re)create a container on it.

The container is recreated when it does not run the image's current id, or was created with
other `run_args`/`command`: `docker run` labels it with a digest of them
(`jarvisctl.args`), which the probe compares. `pull: missing` pulls only an image the host does
not have, so that a pinned tag or digest makes a second run `ok`; `pull: always` cannot know
without pulling, so it has no probe (it always acts, and recreates the container only when the
pulled image differs from the one it runs).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import Any, Literal

from pydantic import Field, field_validator

from jarvisctl.config.models.values import NonEmptyText
from jarvisctl.kinds.base import KindParams
from jarvisctl.kinds.step_base import HostCommand, ShellAction, StepFiles, StepKind
from jarvisctl.kinds.steps_shell import q

# [registry[:port]/]path[:tag][@digest], as docker spells a reference (lowercase path)
_IMAGE = re.compile(
    r"^([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
_CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
LABEL = "jarvisctl.args"


class DockerParams(KindParams):
    image: NonEmptyText  # e.g. ghcr.io/acme/app:1.4.2, or @sha256:... for a pinned one
    container: str | None = None  # (re)create this container on the image
    pull: Literal["always", "missing"] = "missing"
    run_args: list[str] = Field(default_factory=list)  # docker run's options, e.g. [-p, 80:80]
    command: list[str] | None = None  # the container's command (a string is split as sh would)

    @field_validator("image")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not _IMAGE.match(value):
            raise ValueError(
                f"invalid image {value!r} ([registry/]name[:tag][@sha256:digest], e.g. "
                "nginx:1.25, ghcr.io/acme/app:2.0)"
            )
        return value

    @field_validator("container")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _CONTAINER.match(value):
            raise ValueError(
                f"invalid container name {value!r} (letters, digits and _ . -, starting with a "
                "letter or digit)"
            )
        return value

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"command {value!r} cannot be split into words: {exc}") from None
        return value

    @field_validator("run_args")
    @classmethod
    def _no_name(cls, value: list[str]) -> list[str]:
        for arg in value:
            if arg in ("-d", "--detach", "--name", "--rm") or arg.startswith(("--name=", "--rm=")):
                raise ValueError(
                    f"run_args: {arg!r} is jarvisctl's to set (the container runs detached, "
                    "named by `container`, and is kept)"
                )
        return value


class Docker(StepKind[DockerParams]):
    name = "docker"
    description = (
        "Pull an image (`pull: missing`: only when the host lacks it) and, with `container`, "
        "(re)create that container on it (docker run -d --name CONTAINER RUN_ARGS IMAGE "
        "COMMAND) when it does not run the image's current id with these arguments."
    )
    params_model = DockerParams
    shorthand = "image"
    default_timeout = 900.0

    def action(self, params: DockerParams, files: StepFiles) -> ShellAction:
        check = docker_current(params)
        return ShellAction(
            apply=tuple(HostCommand(c) for c in docker_apply(params)),
            probe=None if params.pull == "always" else check,
            verify=check,
        )

    def summary(self, params: DockerParams) -> str:
        if params.container:
            return f"docker {params.container} on {params.image}"
        return f"docker pull {params.image}"


def args_digest(params: DockerParams) -> str:
    words = json.dumps([params.run_args, params.command], separators=(",", ":"))
    return hashlib.sha256(words.encode()).hexdigest()[:16]


def _needs_docker() -> str:
    return "command -v docker >/dev/null 2>&1 || { echo 'docker is not on the host' >&2; exit 3; }"


def docker_current(params: DockerParams) -> str:
    """0: the image is there (and the container runs it, with these arguments); 1: not."""
    image = q(params.image)
    lines = [_needs_docker(), f"docker image inspect {image} >/dev/null 2>&1 || exit 1"]
    if params.container:
        container = q(params.container)
        label = q(f'{{{{index .Config.Labels "{LABEL}"}}}}')
        lines += [
            f"want=$(docker image inspect -f '{{{{.Id}}}}' {image}) || exit 3",
            f"have=$(docker inspect -f '{{{{.Image}}}} {{{{.State.Running}}}}' {container} "
            "2>/dev/null) || exit 1",
            '[ "$have" = "$want true" ] || exit 1',
            f"args=$(docker inspect -f {label} {container}) || exit 3",
            f'[ "$args" = {args_digest(params)} ]',
        ]
    return "\n".join(lines)


def docker_apply(params: DockerParams) -> list[str]:
    image = q(params.image)
    pull = f"docker pull {image}"
    if params.pull == "missing":
        pull = f"docker image inspect {image} >/dev/null 2>&1 || {pull}"
    commands = [f"{_needs_docker()}\n{pull}"]
    if params.container:
        container = q(params.container)
        run = " ".join(
            [
                f"docker run -d --name {container} --label {q(f'{LABEL}={args_digest(params)}')}",
                *(q(a) for a in params.run_args),
                image,
                *(q(a) for a in params.command or ()),
            ]
        )
        # recreated only when it does not run the image with these arguments (pull: always)
        commands.append(
            f"( {docker_current(params)} ) && exit 0\n"
            f"docker rm -f {container} >/dev/null 2>&1\n{run}"
        )
    return commands
