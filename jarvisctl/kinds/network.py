"""Network checks run from the host itself: a TCP port, an HTTP endpoint, a TLS certificate.

Each command picks, on the host, the first tool it finds, and says which one in its output, so
the parse knows how to read it and an error can name what is missing.
"""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
from datetime import datetime, timezone
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from jarvisctl.config.models.values import Direction, NonEmptyText, Timeout
from jarvisctl.core.frozen import frozen
from jarvisctl.core.regex_bounds import backtracking_hazard
from jarvisctl.core.regex_search import match_bounded
from jarvisctl.kinds.base import (
    CheckKind,
    CommandOutput,
    KindParams,
    ParseError,
    Reading,
    compiled_regex,
)
from jarvisctl.kinds.exits import check_exit, last_line


def _valid_host(value: str) -> str:
    if not value or value.startswith("-") or any(c.isspace() or c in "/[]" for c in value):
        raise ValueError(f"invalid host {value!r} (a host name or an IP address)")
    return value


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _seconds(value: float) -> str:
    """Whole seconds for tools that take no fractions (nc -w), never 0."""
    return str(max(1, math.ceil(value)))


class TcpParams(KindParams):
    host: NonEmptyText = "localhost"
    port: int = Field(ge=1, le=65535)
    connect_timeout: Timeout = 3.0

    _host_ok = field_validator("host")(_valid_host)


_TCP_LINE = re.compile(r"^@@tcp (\w+)(?: (\S+))?(?: (\d+))?\s*$", re.MULTILINE)


class TcpPort(CheckKind[TcpParams]):
    name = "tcp_port"
    description = (
        "1 when a TCP connection from the host to host:port succeeds within connect_timeout, "
        "else 0. Uses `nc -z` when the host has it, else bash's /dev/tcp (bash only, not POSIX "
        "sh) under coreutils timeout, else `curl telnet://` (which then waits the whole timeout)."
    )
    params_model = TcpParams
    direction: ClassVar[Direction] = "below"

    def command(self, params: TcpParams) -> str:
        host, port, wait = (
            shlex.quote(params.host),
            str(params.port),
            _seconds(params.connect_timeout),
        )
        url = shlex.quote(f"telnet://{_url_host(params.host)}:{port}")
        return (
            "if command -v nc >/dev/null 2>&1; then "
            f'nc -z -w {wait} {host} {port}; echo "@@tcp nc $?"; '
            "elif command -v bash >/dev/null 2>&1; then "
            f"timeout {wait} bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' {host} {port}; "
            'echo "@@tcp bash $?"; '
            "elif command -v curl >/dev/null 2>&1; then "
            f"curl -s -o /dev/null --connect-timeout {wait} -m {wait} "
            f"-w '\\n@@tcp curl %{{time_connect}}' {url}; echo \" $?\"; "
            "else echo '@@tcp none'; fi"
        )

    def parse(self, output: CommandOutput, params: TcpParams) -> float:
        return self.read(output, params).value or 0.0

    def read(self, output: CommandOutput, params: TcpParams) -> Reading:
        found = _TCP_LINE.search(output.stdout)
        if found is None:
            check_exit(output, {})
            raise ParseError("no connection result in the output")
        tool = found[1]
        if tool == "none":
            raise ParseError(
                "no tool to open a TCP connection on the host: install nc (netcat-openbsd), "
                "bash or curl"
            )
        code = int(found[3] if tool == "curl" else found[2] or -1)
        # curl telnet:// keeps the connection open until -m runs out (exit 28): it did connect.
        connected = code == 0 or (tool == "curl" and code == 28 and float(found[2] or 0) > 0)
        where = f"{params.host}:{params.port}"
        if connected:
            return Reading(1.0, summary=f"{where} accepted a connection ({tool})")
        why = last_line(output.stderr) or f"exit {code}"
        return Reading(0.0, summary=f"{where} did not accept a connection ({tool}: {why})")


class HttpParams(KindParams):
    url: NonEmptyText
    measure: Literal["status", "latency"] = "status"
    # a Python regular expression searched (re.MULTILINE) in the body's last 64 KiB, by a
    # matcher process given 3 s (core/regex_search.py)
    body_match: str | None = None
    max_time: Timeout = 10.0
    follow_redirects: bool = False
    insecure: bool = False  # accept any certificate (self-signed endpoints)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"invalid url {value!r} (http://host[:port]/path or https://...)")
        return value

    @field_validator("body_match")
    @classmethod
    def _bounded_regex(cls, value: str | None) -> str | None:
        """It compiles, and cannot backtrack exponentially (it is matched against what a
        server answers, which may be hostile: see core/regex_bounds.py)."""
        compiled_regex(value)
        if value is not None and (why := backtracking_hazard(value)):
            raise ValueError(f"{value!r} {why}")
        return value


@frozen
class HttpAnswer:
    tool: str
    exit_code: int
    status: int  # 0 when there was no HTTP answer
    seconds: float | None
    body: str


_HTTP_LINE = re.compile(r"\n@@http (curl|wget|none)((?: \S+)*)\s*$")
_WGET_STATUS = re.compile(r"^\s*HTTP/[\d.]+ (\d{3})", re.MULTILINE)


def parse_http_answer(output: CommandOutput) -> HttpAnswer:
    found = _HTTP_LINE.search("\n" + output.stdout)
    if found is None:
        check_exit(output, {})
        raise ParseError("no HTTP result line in the output")
    body, tool, fields = ("\n" + output.stdout)[: found.start()][1:], found[1], found[2].split()
    if tool == "none":
        raise ParseError("neither curl nor wget is installed on the host")
    try:
        if tool == "curl":  # @@http curl CODE SECONDS EXIT
            return HttpAnswer(tool, int(fields[2]), int(fields[0]), float(fields[1]), body)
        # @@http wget NANOS_BEFORE NANOS_AFTER EXIT; the status is in the headers (-S, stderr)
        statuses = _WGET_STATUS.findall(output.stderr)
        seconds = _elapsed(fields[0], fields[1])
        return HttpAnswer(tool, int(fields[2]), int(statuses[-1]) if statuses else 0, seconds, body)
    except (IndexError, ValueError):
        raise ParseError(f"unexpected HTTP result line: {found[0].strip()[:120]!r}") from None


def _elapsed(before: str, after: str) -> float | None:
    """Seconds between two `date +%s%N` stamps; None where date has no %N (busybox)."""
    if not (before.isdigit() and after.isdigit()):
        return None
    return (int(after) - int(before)) / 1e9


class Http(CheckKind[HttpParams]):
    name = "http"
    description = (
        "An HTTP(S) request from the host itself with curl (or wget): measure `status` gives "
        "the status code (0 when nothing answered, or when body_match is set and the body does "
        "not match); measure `latency` gives the time to the whole answer in ms."
    )
    params_model = HttpParams
    direction: ClassVar[Direction] = "above"

    def command(self, params: HttpParams) -> str:
        url, wait = shlex.quote(params.url), f"{params.max_time:g}"
        keep_body = params.body_match is not None
        curl = ["LC_ALL=C curl -sS", "" if keep_body else "-o /dev/null"]
        curl += [f"--max-time {wait}", "-L" if params.follow_redirects else ""]
        curl += ["-k" if params.insecure else "", "-w '\\n@@http curl %{http_code} %{time_total}'"]
        wget = ["wget -q -S", "-O -" if keep_body else "-O /dev/null", f"-T {wait} -t 1"]
        wget += ["" if params.follow_redirects else "--max-redirect=0"]
        wget += ["--no-check-certificate" if params.insecure else ""]
        return (
            "if command -v curl >/dev/null 2>&1; then "
            f'{" ".join(a for a in curl if a)} {url}; echo " $?"; '
            "elif command -v wget >/dev/null 2>&1; then t0=$(date +%s%N); "
            f"{' '.join(a for a in wget if a)} {url}; "
            'rc=$?; printf \'\\n@@http wget %s %s %s\\n\' "$t0" "$(date +%s%N)" "$rc"; '
            "else echo; echo '@@http none'; fi"
        )

    def parse(self, output: CommandOutput, params: HttpParams) -> float:
        value = self.read(output, params).value
        return 0.0 if value is None else value

    def read(self, output: CommandOutput, params: HttpParams) -> Reading:
        answer = parse_http_answer(output)
        failure = "" if answer.status else _no_answer(answer, output)
        if params.measure == "latency":
            if failure:
                raise ParseError(f"{params.url}: {failure}")
            if answer.seconds is None:
                raise ParseError("the host's date has no %N (nanoseconds): latency unknown")
            return Reading(round(answer.seconds * 1000, 1), summary=f"HTTP {answer.status}")
        if failure:
            return Reading(0.0, summary=failure)
        if params.body_match:
            return _body_matched(answer, params.body_match)
        return Reading(float(answer.status), summary=f"HTTP {answer.status}")


def _body_matched(answer: HttpAnswer, pattern: str) -> Reading:
    """The status when the body matches, else 0; searched by a matcher process (a body that
    makes the pattern backtrack for hours cannot hold the run): a search not done in time is
    neither, and the check cannot tell."""
    found = match_bounded(pattern, answer.body)
    if isinstance(found, str):
        raise ParseError(
            f"HTTP {answer.status}, but body_match {pattern!r} could not be matched against "
            f"the body {found}"
        )
    if found is None:
        summary = f"HTTP {answer.status}, but the body does not match {pattern!r}"
        return Reading(0.0, summary=summary)
    return Reading(float(answer.status), summary=f"HTTP {answer.status}")


def _no_answer(answer: HttpAnswer, output: CommandOutput) -> str:
    why = last_line(output.stderr) or f"{answer.tool} exit {answer.exit_code}"
    return f"no HTTP answer ({why})"


class TlsParams(KindParams):
    host: NonEmptyText
    port: int = Field(443, ge=1, le=65535)
    servername: str | None = None  # the name sent in SNI; by default the host when it is a name
    connect_timeout: Timeout = 10.0

    _host_ok = field_validator("host")(_valid_host)


_OPENSSL_ERROR = re.compile(r"^[0-9A-F]+:error:[0-9A-F]+:([^:]*):[^:]*:([^:]+):")
# What `openssl x509` says when s_client passed it nothing, and s_client's errno echo: never
# the cause.
_NOT_THE_CAUSE = ("could not read certificate", "unable to load certificate", "connect:errno=")


def _s_client_error(stderr: str) -> str:
    """The first reason s_client gave, in OpenSSL 1.1 and 3 error-line formats."""
    for line in (ln.strip() for ln in stderr.splitlines()):
        found = _OPENSSL_ERROR.match(line)
        if not line or line.lower().startswith(_NOT_THE_CAUSE):
            continue
        if found is None:
            return line[:200]
        if found[1] != "PEM routines":  # x509's "no start line": it got no certificate
            return found[2]
    return "no answer from s_client (timed out, or not TLS?)"


_NOT_AFTER = re.compile(r"^notAfter=(.+?)\s*$", re.MULTILINE)


def parse_not_after(text: str) -> datetime:
    """`notAfter=Jan  5 12:00:00 2026 GMT`, as `openssl x509 -enddate` prints it."""
    found = _NOT_AFTER.search(text)
    if found is None:
        raise ParseError("no certificate end date in the output")
    try:
        moment = datetime.strptime(" ".join(found[1].split()), "%b %d %H:%M:%S %Y %Z")
    except ValueError:
        raise ParseError(f"unreadable certificate end date {found[1]!r}") from None
    return moment.replace(tzinfo=timezone.utc)


class TlsDaysLeft(CheckKind[TlsParams]):
    name = "tls_days_left"
    description = (
        "Days until the certificate that host:port presents expires (negative once expired), "
        "fetched from the host itself; needs openssl (s_client and x509)."
    )
    params_model = TlsParams
    unit = "d"
    direction: ClassVar[Direction] = "below"

    def command(self, params: TlsParams) -> str:
        target = shlex.quote(f"{_url_host(params.host)}:{params.port}")
        name = params.servername or ("" if _is_ip(params.host) else params.host)
        sni = f" -servername {shlex.quote(name)}" if name else ""
        return (
            f"date +%s; timeout {params.connect_timeout:g} openssl s_client -connect {target}"
            f"{sni} </dev/null | openssl x509 -noout -enddate"
        )

    def parse(self, output: CommandOutput, params: TlsParams) -> float:
        now_line, _, rest = output.stdout.partition("\n")
        if not now_line.strip().isdigit():
            check_exit(output, {"openssl": "openssl", "date": "coreutils"})
            raise ParseError(f"the first line is not the host's time: {now_line[:80]!r}")
        if not _NOT_AFTER.search(rest):
            check_exit(output, {"openssl": "openssl"}, ok=(0, 1))
            why = _s_client_error(output.stderr)
            raise ParseError(f"no certificate from {params.host}:{params.port}: {why}")
        expires = parse_not_after(rest).timestamp()
        return round((expires - int(now_line)) / 86400, 2)
