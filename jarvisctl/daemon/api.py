"""The daemon's alert API, over the same use cases as `jarvisctl alerts` and `silence`:

    GET    /alerts[?all=1[&since=7d]]   the alerts firing (with resolved ones), as `alerts --json`
    POST   /alerts/{id}/ack             {"by": NAME, "comment": TEXT}
    GET    /silences[?all=1]            as `silence list --json`
    POST   /silences                    {"matchers": [...], "starts_at"?, "ends_at" | "duration",
                                         "comment", "created_by"}
    DELETE /silences/{id}

Reads are open, as /healthz is. A write requires `Authorization: Bearer TOKEN`, the token of
jarvisctl.yml's daemon.http.token (compared in constant time); with none configured every write
is refused (403, saying how to configure one). Each write is recorded as a run (source daemon),
as the CLI's are. A bad body, an unknown id or a bad matcher is a 4xx with a JSON `error`
(and `field` when one field is at fault); a fault of the store is a 503; never a traceback.
"""

from __future__ import annotations

import hmac
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from jarvisctl.app.alert_actions import FieldError
from jarvisctl.app.alerts import (
    RECENT,
    AckRequest,
    AlertCounts,
    AlertNotFiringError,
    AmbiguousAlertError,
    UnknownAlertError,
    acknowledge_alert,
    alert_counts,
    list_alerts,
)
from jarvisctl.app.silences import (
    AmbiguousSilenceError,
    SilenceEndedError,
    SilenceSpec,
    UnknownSilenceError,
    add_silence,
    expire_silence,
    list_silences,
    parse_length,
    parse_time,
)
from jarvisctl.config.project import Project
from jarvisctl.core.errors import JarvisError, StoreError
from jarvisctl.core.frozen import frozen
from jarvisctl.core.secrets import SecretValues
from jarvisctl.daemon.logs import EventLog
from jarvisctl.render.alerts_text import alert_document, silence_document

MAX_BODY = 32 * 1024  # a silence with 32 matchers and its comment fits in a fraction of it
PATHS = ["/alerts", "/alerts/{id}/ack", "/silences", "/silences/{id}"]
NO_TOKEN = (
    "writes are refused: the daemon has no API token. Add daemon: {http: {token: "
    "\"{{ env('JARVISCTL_API_TOKEN') }}\"}} to jarvisctl.yml, export JARVISCTL_API_TOKEN "
    "(e.g. $(openssl rand -hex 32)) where the daemon starts, and restart it"
)
SILENCE_FIELDS = frozenset(
    {"matchers", "starts_at", "ends_at", "duration", "comment", "created_by"}
)
ACK_FIELDS = frozenset({"by", "comment"})
TRUE, FALSE = ("1", "true", "yes"), ("0", "false", "no", "")


@frozen
class Answer:
    code: int
    body: Any  # a JSON value
    headers: tuple[tuple[str, str], ...] = ()


class BadRequestError(Exception):
    """What is wrong with a request, said to its client (400 unless told)."""

    def __init__(self, message: str, code: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field = code, field


class AlertsApi:
    def __init__(
        self,
        project: Callable[[], Project],
        token: str | None,
        secrets: SecretValues,
        log: EventLog,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._project, self._token, self.secrets = project, token, secrets
        self.log, self.clock = log, clock

    @staticmethod
    def handles(path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in ("/alerts", "/silences"))

    # -- reads -------------------------------------------------------------------------------

    def read(self, path: str, query: str) -> Answer:
        return self._guarded(lambda: self._read(path, _query(query)))

    def _read(self, path: str, query: Mapping[str, str]) -> Answer:
        now, project = self.clock(), self._project()
        every = _flag(query, "all")
        if path == "/alerts":
            since = parse_length(query["since"], "since") if "since" in query else RECENT
            found = list_alerts(project, resolved=every, since=since, now=now)
            return Answer(200, [alert_document(v.stored, v.muted) for v in found])
        if path == "/silences":
            found_silences = list_silences(project, ended=every, now=now)
            return Answer(200, [silence_document(s, now) for s in found_silences])
        return _not_here(path, "GET")

    def counts(self) -> AlertCounts | None:
        """For /metrics; None (and a warning) when the store cannot be read."""
        try:
            return alert_counts(self._project())
        except JarvisError as exc:
            self.log.warning("alert_metrics_unavailable", error=str(exc))
            return None

    # -- writes ------------------------------------------------------------------------------

    def write(
        self, method: str, path: str, authorization: str | None, body: bytes, client: str
    ) -> Answer:
        refused = self._refused(authorization)
        if refused is not None:
            self.log.warning(
                "api_write_refused", method=method, path=path, client=client, code=refused.code
            )
            return refused
        answer = self._guarded(lambda: self._write(method, path, body))
        run_id = answer.body.get("run_id") if isinstance(answer.body, dict) else None
        self.log.info(
            "api_write", method=method, path=path, client=client, code=answer.code, run_id=run_id
        )
        return answer

    def _refused(self, authorization: str | None) -> Answer | None:
        if self._token is None:
            return Answer(403, {"error": NO_TOKEN})
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return Answer(
                401,
                {"error": "this write requires the header Authorization: Bearer TOKEN"},
                (("WWW-Authenticate", 'Bearer realm="jarvisctl"'),),
            )
        if not _same(given.strip(), self._token):
            return Answer(
                401,
                {"error": "the bearer token is not the daemon's (daemon.http.token)"},
                (("WWW-Authenticate", 'Bearer realm="jarvisctl", error="invalid_token"'),),
            )
        return None

    def _write(self, method: str, path: str, body: bytes) -> Answer:
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "alerts" and parts[2] == "ack":
            return self._ack(unquote(parts[1]), _object(body, ACK_FIELDS))
        if method == "POST" and path == "/silences":
            return self._silence(_object(body, SILENCE_FIELDS))
        if method == "DELETE" and len(parts) == 2 and parts[0] == "silences":
            return self._expire(unquote(parts[1]))
        return _not_here(path, method)

    def _ack(self, alert: str, fields: Mapping[str, Any]) -> Answer:
        by = _text(fields, "by", required=True)
        request = AckRequest(alert, by, _text(fields, "comment"), ("api", "ack", alert), "daemon")
        done = acknowledge_alert(self._project(), request, self.secrets, self.clock())
        document = alert_document(done.alert.stored, done.alert.muted)
        return Answer(200, {"alert": document, "run_id": done.run_id})

    def _silence(self, fields: Mapping[str, Any]) -> Answer:
        now = self.clock()
        matchers = fields.get("matchers")
        if not isinstance(matchers, list) or not all(isinstance(m, str) for m in matchers):
            raise BadRequestError("matchers: expected a list of strings", field="matchers")
        spec = SilenceSpec(
            tuple(matchers),
            _text(fields, "comment", required=True),
            _text(fields, "created_by", required=True),
            starts_at=_moment(fields, "starts_at", now),
            ends_at=_moment(fields, "ends_at", now),
            duration=_length(fields),
        )
        arguments = ("api", "silence", "add", *(str(m) for m in spec.matchers))
        done = add_silence(self._project(), spec, self.secrets, arguments, "daemon", now)
        return Answer(201, {"silence": silence_document(done.silence, now), "run_id": done.run_id})

    def _expire(self, silence_id: str) -> Answer:
        now, arguments = self.clock(), ("api", "silence", "expire", silence_id)
        done = expire_silence(self._project(), silence_id, self.secrets, arguments, "daemon", now)
        return Answer(200, {"silence": silence_document(done.silence, now), "run_id": done.run_id})

    # -- errors --------------------------------------------------------------------------------

    def _guarded(self, handle: Callable[[], Answer]) -> Answer:
        """The answer, or the 4xx/5xx a failure calls for, its message in `error`."""
        try:
            return handle()
        except BadRequestError as exc:
            body = {"error": str(exc), **({"field": exc.field} if exc.field else {})}
            return Answer(exc.code, body)
        except FieldError as exc:
            return Answer(400, {"error": str(exc), "field": exc.field})
        except (AmbiguousAlertError, AmbiguousSilenceError) as exc:
            return Answer(400, {"error": str(exc)})
        except (AlertNotFiringError, SilenceEndedError) as exc:
            return Answer(409, {"error": str(exc)})
        except (UnknownAlertError, UnknownSilenceError) as exc:
            return Answer(404, {"error": str(exc)})
        except StoreError as exc:
            self.log.error("api_store_error", error=str(exc))
            return Answer(503, {"error": str(exc)})
        except JarvisError as exc:
            return Answer(400 if exc.exit_code == 2 else 503, {"error": str(exc)})
        except Exception as exc:  # a bug: the daemon says so in its log, the client gets no trace
            self.log.error("api_error", error=f"{type(exc).__name__}: {exc}")
            return Answer(500, {"error": "internal error (the daemon's log says which)"})


def _same(given: str, token: str) -> bool:
    try:
        raw = given.encode("latin-1")  # how the header's bytes were decoded
    except UnicodeEncodeError:
        raw = b""
    return hmac.compare_digest(raw, token.encode("ascii"))


def _not_here(path: str, method: str) -> Answer:
    return Answer(404, {"error": f"no {method} {path[:200]!r} here", "paths": PATHS})


def _query(text: str) -> dict[str, str]:
    try:
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=20)
    except ValueError as exc:
        raise BadRequestError(f"query: {exc}") from None
    return {key: values[-1] for key, values in parsed.items()}


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise BadRequestError(f"{name}: {value[:40]!r} is not 1 or 0 (true, false)", field=name)


def _object(body: bytes, known: frozenset[str]) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError is a ValueError)
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise BadRequestError(f"the body is not JSON: {reason[:200]}") from None
    if not isinstance(value, dict):
        raise BadRequestError("the body must be a JSON object")
    unknown = sorted(set(value) - known)
    if unknown:
        raise BadRequestError(
            f"unknown field {unknown[0][:60]!r} (known: {', '.join(sorted(known))})",
            field=unknown[0][:60],
        )
    return value


def _text(fields: Mapping[str, Any], name: str, required: bool = False) -> str:
    value = fields.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadRequestError(f"{name}: expected a string", field=name)
    return value


def _moment(fields: Mapping[str, Any], name: str, now: float) -> float | None:
    """An ISO 8601 time (or `now`), or epoch seconds."""
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return parse_time(value, name, now)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise BadRequestError(f"{name}: expected an ISO 8601 time or epoch seconds", field=name)


def _length(fields: Mapping[str, Any]) -> float | None:
    """A duration as text (`2h`) or seconds."""
    value = fields.get("duration")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequestError("duration: expected text (2h, 30m) or seconds", field="duration")
    return parse_length(value)
