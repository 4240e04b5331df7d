"""Signals from the services' own monitoring: a Prometheus instant query, log lines that match."""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable, Sequence
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import Field, field_validator, model_validator

from jarvisctl.config.models.values import PositiveDuration, Timeout
from jarvisctl.kinds.base import CheckKind, CommandOutput, KindParams, ParseError, Reading
from jarvisctl.kinds.containers import DOCKER, valid_container
from jarvisctl.kinds.exits import check_exit, last_line

_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "max": max,
    "min": min,
    "sum": math.fsum,
    "avg": lambda values: math.fsum(values) / len(values),
}


class PrometheusParams(KindParams):
    query: str = Field(min_length=1)  # PromQL, evaluated at the server's current time
    url: str = "http://127.0.0.1:9090"  # the server, as the host reaches it
    aggregate: Literal["max", "min", "sum", "avg"] | None = None  # to fold several series
    max_time: Timeout = 10.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError(f"invalid url {value!r} (http://host:port, optionally /path-prefix)")
        return value.rstrip("/")


def query_url(params: PrometheusParams) -> str:
    return f"{params.url}/api/v1/query?{urlencode({'query': params.query})}"


def _series_name(sample: dict[str, Any]) -> str:
    labels = dict(sample.get("metric") or {})
    name = labels.pop("__name__", "")
    inside = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inside}}}"


def _sample_value(pair: Any) -> float:
    """A `[timestamp, "value"]` pair as the API encodes samples."""
    if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str)):
        raise ParseError(f"unexpected sample {str(pair)[:80]!r}")
    try:
        value = float(pair[1])
    except ValueError:
        raise ParseError(f"sample value {pair[1]!r} is not a number") from None
    if math.isnan(value):
        raise ParseError("the query returned NaN")
    return value


def parse_prometheus(text: str) -> tuple[tuple[str, float], ...]:
    """The samples an instant query answered with: (series, value) pairs, scalar as one."""
    try:
        answer = json.loads(text)
    except ValueError:
        first = text.strip()[:120]
        raise ParseError(
            f"not a Prometheus API answer: {first!r}" if first else "no answer"
        ) from None
    if not isinstance(answer, dict):
        raise ParseError("not a Prometheus API answer: not a JSON object")
    if answer.get("status") != "success":
        kind, error = answer.get("errorType", "error"), answer.get("error", "no message")
        raise ParseError(f"Prometheus answered {kind}: {error}")
    data = answer.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return (("scalar", _sample_value(result)),)
    if kind != "vector" or not isinstance(result, list):
        raise ParseError(f"the query returned a {kind}, not an instant vector or a scalar")
    return tuple((_series_name(s), _sample_value(s.get("value"))) for s in result)


def fold_samples(samples: Sequence[tuple[str, float]], aggregate: str | None) -> Reading:
    if not samples:
        raise ParseError("query returned no samples")
    if len(samples) == 1:
        return Reading(samples[0][1], summary=samples[0][0])
    if aggregate is None:
        names = ", ".join(name for name, _ in samples[:3]) + (", ..." if len(samples) > 3 else "")
        raise ParseError(
            f"query returned {len(samples)} series ({names}); set aggregate: max, min, sum or "
            "avg, or narrow the query to one series"
        )
    value = _AGGREGATES[aggregate]([value for _, value in samples])
    return Reading(value, summary=f"{aggregate} of {len(samples)} series")


class PrometheusQuery(CheckKind[PrometheusParams]):
    name = "prometheus_query"
    description = (
        "The value of a PromQL instant query, asked from the host itself to a Prometheus "
        "server's HTTP API (/api/v1/query) with curl (or wget); several series need aggregate."
    )
    params_model = PrometheusParams

    def command(self, params: PrometheusParams) -> str:
        url, wait = shlex.quote(query_url(params)), f"{params.max_time:g}"
        return (
            f"if command -v curl >/dev/null 2>&1; then curl -sS --max-time {wait} {url}; "
            f"elif command -v wget >/dev/null 2>&1; then wget -q -O - -T {wait} -t 1 {url}; "
            "else echo '@@http none' >&2; exit 127; fi"
        )

    def parse(self, output: CommandOutput, params: PrometheusParams) -> float:
        value = self.read(output, params).value
        return 0.0 if value is None else value

    def read(self, output: CommandOutput, params: PrometheusParams) -> Reading:
        if "@@http none" in output.stderr:  # both were looked for: name both, as http does
            raise ParseError("neither curl nor wget is installed on the host")
        check_exit(output, {"curl": "curl", "wget": "wget"})
        return fold_samples(parse_prometheus(output.stdout), params.aggregate)


class LogParams(KindParams):
    pattern: str = Field(min_length=1)  # an extended regular expression, as grep -E takes it
    source: Literal["journal", "docker"] = "journal"
    unit: str | None = None  # journal: one unit's lines; by default the whole journal
    container: str | None = None  # docker: the container whose logs to read
    since: PositiveDuration = 300.0

    @model_validator(mode="after")
    def _one_source(self) -> LogParams:
        if self.source == "docker" and (self.container is None or self.unit is not None):
            raise ValueError("source: docker needs 'container' (and takes no 'unit')")
        if self.source == "journal" and self.container is not None:
            raise ValueError("'container' is for source: docker; the journal takes 'unit'")
        if self.container is not None:
            valid_container(self.container)
        if self.unit is not None and (not self.unit or self.unit.startswith("-")):
            raise ValueError(f"invalid unit name {self.unit!r}")
        return self


# Without root or one of these groups journalctl silently shows only the user's own lines.
_JOURNAL_ACCESS = (
    'case " $(id -Gn 2>/dev/null) " in *" root "*|*" adm "*|*" systemd-journal "*) ;; '
    "*) echo '@@journal-limited' >&2;; esac; "
)
# A host with no journal files at all (no journald) must not read as "0 matching lines".
_JOURNAL_PRESENT = (
    "find /run/log/journal /var/log/journal -maxdepth 2 -name '*.journal*' 2>/dev/null "
    "| grep -q . || echo '@@journal-none' >&2; "
)
_SOURCE_EXIT = re.compile(r"^@@source (\d+)$", re.MULTILINE)


def _log_source(params: LogParams) -> str:
    since = max(1, math.ceil(params.since))
    if params.source == "docker":
        name = shlex.quote(params.container or "")
        return (
            f"docker inspect --type container -f . {name} >/dev/null && "
            f'{{ docker logs --since {since}s {name} 2>&1; echo "@@source $?" >&2; }}'
        )
    unit = f" -u {shlex.quote(params.unit)}" if params.unit else ""
    return (
        f"{_JOURNAL_ACCESS}{_JOURNAL_PRESENT}"
        f"{{ journalctl --no-pager -q -o cat --since=-{since}s{unit}; "
        'echo "@@source $?" >&2; }'
    )


class LogPattern(CheckKind[LogParams]):
    name = "log_pattern"
    description = (
        "Lines matching an extended regular expression (grep -E) in the systemd journal (of a "
        "unit, or all of it) or in a docker container's logs, over the last `since`; reading the "
        "whole journal needs root (become) or the groups adm or systemd-journal."
    )
    params_model = LogParams

    def command(self, params: LogParams) -> str:
        return f"{_log_source(params)} | grep -c -E -e {shlex.quote(params.pattern)}"

    def parse(self, output: CommandOutput, params: LogParams) -> float:
        tool = "docker" if params.source == "docker" else "journalctl"
        packages = {tool: DOCKER[tool] if tool == "docker" else "systemd", "grep": "grep"}
        if "@@journal-limited" in output.stderr:
            raise ParseError(
                "this user cannot read the whole journal (not root, nor in group adm or "
                "systemd-journal): use become, or add the user to systemd-journal"
            )
        if "@@journal-none" in output.stderr:
            raise ParseError(
                "this host has no systemd journal (nothing in /run/log/journal or "
                "/var/log/journal): is journald running?"
            )
        source = _SOURCE_EXIT.search(output.stderr)
        said = CommandOutput(output.stdout, _SOURCE_EXIT.sub("", output.stderr), output.exit_code)
        # grep -c: exit 1 is "no line matched", a count of 0; exit 2 is a real error
        check_exit(said, packages, ok=(0, 1) if source else (0,))
        if source is None:
            raise ParseError(f"{tool} did not run to its end")
        if int(source[1]) == 127:
            raise ParseError(f"{tool} is not installed on the host: exit 127")
        if int(source[1]) != 0:
            why = last_line(said.stderr)
            raise ParseError(f"{tool} exited {source[1]}" + (f": {why}" if why else ""))
        count = output.stdout.strip()
        if not count.isdigit():
            raise ParseError(f"grep -c printed no count: {count[:80]!r}")
        return float(count)
