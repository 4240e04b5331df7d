"""Docker containers, read with `docker inspect` on the host."""

from __future__ import annotations

import re
import shlex
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from jarvisctl.config.models.values import Direction
from jarvisctl.core.frozen import frozen
from jarvisctl.kinds.base import CheckKind, CommandOutput, KindParams, ParseError, Reading
from jarvisctl.kinds.exits import check_exit, error_tail

DOCKER = {"docker": "docker.io or docker-ce"}
# One line with everything the three measures need, so the command is the same for all of them.
_INSPECT_FORMAT = (
    "{{.State.Status}} {{.State.Running}} {{.RestartCount}} "
    "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"
)
_NO_SUCH = re.compile(r"No such (?:object|container)", re.IGNORECASE)


def valid_container(value: str) -> str:
    if not value or value.startswith("-") or any(c.isspace() for c in value):
        raise ValueError(f"invalid container name {value!r} (a container name or id)")
    return value


class ContainerParams(KindParams):
    name: str = Field(min_length=1)
    measure: Literal["running", "healthy", "restarts"] = "running"

    _name_ok = field_validator("name")(valid_container)


@frozen
class ContainerState:
    status: str  # created, running, paused, restarting, removing, exited, dead
    running: bool
    restarts: int
    health: str  # healthy, unhealthy, starting, or none (no HEALTHCHECK)


def parse_container_state(output: CommandOutput, name: str) -> ContainerState | None:
    """The state `docker inspect -f` printed; None when there is no such container."""
    if output.exit_code not in (0, None) and _NO_SUCH.search(output.stderr):
        return None
    check_exit(output, DOCKER)
    fields = output.stdout.split()
    if len(fields) != 4 or fields[1] not in ("true", "false") or not fields[2].isdigit():
        raise ParseError(f"unexpected docker inspect output: {output.stdout.strip()[:120]!r}")
    return ContainerState(fields[0], fields[1] == "true", int(fields[2]), fields[3])


class DockerContainer(CheckKind[ContainerParams]):
    name = "docker_container"
    description = (
        "A docker container: `running` 1/0 (0 also when it does not exist), `healthy` 1/0 from "
        "its HEALTHCHECK, or `restarts` (docker's RestartCount); needs the docker CLI and the "
        "right to use it (become, or the docker group)."
    )
    params_model = ContainerParams
    direction: ClassVar[Direction] = "below"

    def command(self, params: ContainerParams) -> str:
        return (
            f"docker inspect --type container -f {shlex.quote(_INSPECT_FORMAT)} "
            f"{shlex.quote(params.name)}"
        )

    def parse(self, output: CommandOutput, params: ContainerParams) -> float:
        value = self.read(output, params).value
        return 0.0 if value is None else value

    def read(self, output: CommandOutput, params: ContainerParams) -> Reading:
        state = parse_container_state(output, params.name)
        if state is None:
            if params.measure == "restarts":
                raise ParseError(f"no container named {params.name!r}: {error_tail(output)}")
            return Reading(0.0, summary=f"no container named {params.name!r}")
        summary = f"{state.status}, health {state.health}, {state.restarts} restarts"
        if params.measure == "running":
            return Reading(1.0 if state.running else 0.0, summary=summary)
        if params.measure == "restarts":
            return Reading(float(state.restarts), summary=summary)
        if state.health == "none":
            raise ParseError(f"container {params.name!r} has no HEALTHCHECK ({state.status})")
        return Reading(1.0 if state.health == "healthy" else 0.0, summary=summary)
