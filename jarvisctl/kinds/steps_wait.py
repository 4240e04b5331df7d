"""The `wait_for` step kind: wait until a port listens (or stops listening), a URL answers, a
path exists (or is gone), or some of the play's checks are OK. It changes nothing.

The probes pick, on the host, the first tool they find, like the tcp_port and http check kinds
(kinds/network.py): a port with `nc -z` (when the host's nc has -z), else bash's /dev/tcp, else
`curl telnet://`, else, for the host's own loopback, /proc/net/tcp; a URL with curl, else wget.
A host with none of them makes the probe exit NO_TOOL with what to install on stderr: never 0,
so a port is never taken as closed for want of a tool.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from jarvisctl.config.models.values import NonEmptyText, Timeout
from jarvisctl.kinds.base import KindParams
from jarvisctl.kinds.step_base import CheckWaitAction, PollAction, StepFiles, StepKind
from jarvisctl.kinds.steps_shell import host_name, plain_path, q, seconds

CONNECT_SECONDS = 3.0  # each attempt's connection timeout (a port, a URL)
NO_TOOL = 2  # the probe's exit when the host has no tool to try


class WaitForParams(KindParams):
    port: int | None = Field(default=None, ge=1, le=65535)
    host: NonEmptyText = "127.0.0.1"  # with port: where the host itself connects to
    url: NonEmptyText | None = None  # answers with a 2xx or 3xx status
    insecure: bool = False  # with url: accept any certificate
    path: NonEmptyText | None = None  # exists (started) or is gone (stopped)
    check: list[NonEmptyText] | None = None  # names of the play's checks, all OK
    state: Literal["started", "stopped"] = "started"
    timeout: Timeout = 300.0
    interval: Timeout = 2.0

    _host_ok = field_validator("host")(host_name)
    _path_ok = field_validator("path")(plain_path)

    @field_validator("check", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+[^\s]*$", value):
            raise ValueError(f"invalid url {value!r} (http://host[:port]/path or https://...)")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> WaitForParams:
        given = [k for k in ("port", "url", "path", "check") if getattr(self, k) is not None]
        if len(given) != 1:
            found = f" (got {', '.join(given)})" if given else ""
            raise ValueError(f"give exactly one of port, url, path and check{found}")
        if self.state == "stopped" and given[0] in ("url", "check"):
            raise ValueError(f"state: stopped is for a port or a path, not a {given[0]}")
        if self.check is not None and not self.check:
            raise ValueError("check: name at least one of the play's checks")
        if "host" in self.model_fields_set and self.port is None:
            raise ValueError("host goes with port (a url names its own host)")
        if self.interval > self.timeout:
            raise ValueError(
                f"interval {self.interval:g}s is longer than timeout {self.timeout:g}s"
            )
        return self


class WaitFor(StepKind[WaitForParams]):
    name = "wait_for"
    description = (
        "Wait until a port listens (state: stopped: until nothing listens), a URL answers with "
        "a 2xx/3xx status, a path exists (or is gone), or the play's checks named in `check` "
        "are OK; every `interval` for at most `timeout`. Changes nothing."
    )
    params_model = WaitForParams

    def action(self, params: WaitForParams, files: StepFiles) -> PollAction | CheckWaitAction:
        if params.check is not None:
            return CheckWaitAction(tuple(params.check), params.interval, params.timeout)
        return PollAction(poll_probe(params), params.interval, params.timeout, self._what(params))

    def summary(self, params: WaitForParams) -> str:
        if params.check is not None:
            return f"wait for {', '.join(params.check)}"
        return f"wait for {self._what(params)}"

    def _what(self, params: WaitForParams) -> str:
        if params.port is not None:
            listening = "listening" if params.state == "started" else "closed"
            return f"port {params.port} on {params.host} {listening}"
        if params.url is not None:
            return f"{params.url} answering"
        there = "present" if params.state == "started" else "absent"
        return f"{params.path} {there}"


def poll_probe(params: WaitForParams) -> str:
    if params.port is not None:
        return port_probe(params.host, params.port, params.state == "started")
    if params.url is not None:
        return url_probe(params.url, params.insecure)
    test = "-e" if params.state == "started" else "! -e"
    return f"[ {test} {q(params.path or '')} ]"


def port_probe(host: str, port: int, listening: bool) -> str:
    """Exit 0 when the port is in the wanted state, 1 when not, NO_TOOL with a message.

    Each tool is tried only when the one before is missing or cannot do it (busybox's nc has
    no -z in many builds): `r` stays empty until one of them gave a verdict. A port on the
    host's own loopback is last looked up in /proc/net/tcp{,6}, which needs no tool at all.
    """
    wait = seconds(CONNECT_SECONDS)
    url = q(f"telnet://{f'[{host}]' if ':' in host else host}:{port}")
    attempts = [
        "r=",
        "if command -v nc >/dev/null 2>&1; then "
        f"e=$(nc -z -w {wait} {q(host)} {port} 2>&1 >/dev/null); r=$?; "
        "case $e in *option*|*sage:*) r=;; esac; fi",
        'if [ -z "$r" ] && command -v bash >/dev/null 2>&1; then '
        f"timeout {wait} bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' {q(host)} {port} 2>/dev/null; "
        "r=$?; fi",
        # curl telnet:// holds a connection it made until -m runs out (28): it connected
        'if [ -z "$r" ] && command -v curl >/dev/null 2>&1; then '
        f"t=$(curl -s -o /dev/null --connect-timeout {wait} -m {wait} -w '%{{time_connect}}' "
        f"{url} </dev/null); r=$?; "
        'if [ "$r" = 28 ]; then case $t in *[1-9]*) r=0;; esac; fi; fi',
    ]
    if host in LOOPBACK:
        attempts.append(f'[ -n "$r" ] || {_proc_net_tcp(port)}')
    attempts.append(
        '[ -n "$r" ] || { echo \'no tool to open a TCP connection on the host: install nc '
        f"(netcat-openbsd), bash or curl' >&2; exit {NO_TOOL}; }}"
    )
    verdict = '[ "$r" = 0 ]' if listening else '[ "$r" != 0 ]'
    return "\n".join([*attempts, verdict])


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# /proc/net/tcp{,6} local addresses that a connection to the loopback reaches: any, 127.0.0.1
_LISTENERS = ("00000000", "0100007F", "0" * 32, "0" * 24 + "01000000")


def _proc_net_tcp(port: int) -> str:
    """Sets r=0 when a socket listens (state 0A) on the port on a loopback or any address."""
    patterns = "|".join(f"0A:{address}:{port:04X}" for address in _LISTENERS)
    return (
        '{ r=1; for f in /proc/net/tcp /proc/net/tcp6; do [ -r "$f" ] || continue; '
        f'while read -r _ l _ st _; do case "$st:$l" in {patterns}) r=0;; esac; '
        'done < "$f"; done; }'
    )


def url_probe(url: str, insecure: bool) -> str:
    """Exit 0 when the URL answers 2xx/3xx (curl: as it answers; wget follows redirects)."""
    wait = seconds(CONNECT_SECONDS * 2)
    curl = f"curl -fsS -o /dev/null --max-time {wait}{' -k' if insecure else ''} {q(url)}"
    wget = (
        f"timeout {wait} wget -q -O /dev/null -T {wait}"
        f"{' --no-check-certificate' if insecure else ''} {q(url)}"
    )
    return (
        f"if command -v curl >/dev/null 2>&1; then {curl}; "
        f"elif command -v wget >/dev/null 2>&1; then {wget}; "
        f"else echo 'neither curl nor wget is on the host' >&2; exit {NO_TOOL}; fi"
    )
