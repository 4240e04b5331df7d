"""`notify:` of jarvisctl.yml: receivers, the route tree, inhibition rules and maintenance
windows (CONTRACT-19.md, issue 19).

The parameters of the built-in receiver kinds are models here, so that every command that loads
the project reports their mistakes at their line; a third party's kind (entry point group
`jarvisctl.receivers`) is written the same way and its parameters are checked by its own model
when the receiver is resolved (notify/resolve.py). The names each route uses are checked against
`receivers:` by config/notify.py, which knows where each is written.

Secrets: a `password` or `bearer_token` must come from env() or secret_file(); a URL that
carries credentials (Slack's, a webhook's, an Apprise URL) may be written out or come from one.
Either way every value of those fields is redacted wherever it could appear, and no message here
repeats one.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from jarvisctl.config.models.base import StrictModel
from jarvisctl.config.models.values import Count, Duration, NonEmptyText, PositiveDuration, Timeout
from jarvisctl.core.alert_routes import ALL_LABELS
from jarvisctl.core.alerts import parse_matcher
from jarvisctl.core.labels import LABEL_NAME, LABEL_NAME_HINT

RECEIVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RECEIVER_NAME_HINT = "a letter or digit, then letters, digits, '_', '.', '-' (e.g. oncall)"
BUILTIN_RECEIVER_KINDS = ("alertmanager", "apprise", "email", "slack", "webhook")


def _is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def _written_out(value: str) -> str:
    """Only secret fields are rendered: a template anywhere else would be sent as written."""
    if _is_template(value):
        raise ValueError(
            "is not a template (only url, password, bearer_token and Apprise URLs are "
            "rendered): write the value itself"
        )
    return value


PlainText = Annotated[NonEmptyText, AfterValidator(_written_out)]


def _secret_text(value: Any) -> Any:
    # never repeats the value: it may be a webhook URL with its token
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected text: the value, or \"{{ env('NAME') }}\"")
    return value


def _from_a_secret(value: Any) -> Any:
    if not isinstance(value, str) or "{{" not in value:
        raise ValueError(
            "write where it comes from, not the secret itself: "
            "\"{{ env('SMTP_PASSWORD') }}\" or \"{{ secret_file('secrets/smtp') }}\""
        )
    return value


SecretText = Annotated[str, BeforeValidator(_secret_text)]
SecretReference = Annotated[str, BeforeValidator(_from_a_secret)]


def check_http_url(value: str) -> str:
    """An http:// or https:// URL with a host (a literal one now, a rendered one when resolved);
    the message never repeats the URL."""
    if _is_template(value):
        return value
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        raise ValueError("is not a URL (expected http://HOST[:PORT]/PATH or https://...)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http:// or https:// URL with a host")
    return value


HttpUrl = Annotated[SecretText, AfterValidator(check_http_url)]


def _label_name(value: str) -> str:
    if not LABEL_NAME.match(value):
        raise ValueError(f"invalid label name {value[:60]!r} ({LABEL_NAME_HINT})")
    return value


def _grouping_label(value: str) -> str:
    return value if value == ALL_LABELS else _label_name(value)


def _matcher(value: str) -> str:
    parse_matcher(value)  # raises ValueError saying what is wrong
    return value


def _receiver_name(value: str) -> str:
    if not RECEIVER_NAME.match(value):
        raise ValueError(f"invalid receiver name {value[:60]!r} ({RECEIVER_NAME_HINT})")
    return value


LabelName = Annotated[str, AfterValidator(_label_name)]
GroupingLabel = Annotated[str, AfterValidator(_grouping_label)]
MatcherText = Annotated[str, AfterValidator(_matcher)]
ReceiverName = Annotated[str, AfterValidator(_receiver_name)]

_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+$")


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError(f"invalid e-mail address {value[:80]!r} (expected NAME@DOMAIN)")
    return value


Address = Annotated[str, AfterValidator(_address)]


def _some(what: str) -> AfterValidator:
    """A list that must not be empty: pydantic's own message names no example."""

    def check(items: list[Any]) -> list[Any]:
        if not items:
            raise ValueError(f"is empty (expected at least one {what})")
        return items

    return AfterValidator(check)


SomeMatchers = Annotated[list[MatcherText], _some('matcher, e.g. host=~"jetson-.*"')]
SMTP_HINT = "smtp://HOST[:PORT] (STARTTLS, port 25) or smtps://HOST[:PORT] (TLS, port 465)"


def _smtp_url(value: str) -> str:
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018
    except ValueError:
        raise ValueError(f"invalid SMTP server {value[:80]!r} (expected {SMTP_HINT})") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or parts.username:
        raise ValueError(f"invalid SMTP server {value[:80]!r} (expected {SMTP_HINT})")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"SMTP server {value[:80]!r} has a path (expected {SMTP_HINT})")
    return value


class ReceiverParams(StrictModel):
    """What every receiver kind's parameters share."""

    # the fields rendered (env(), secret_file()) and redacted everywhere
    secret_fields: ClassVar[tuple[str, ...]] = ()
    timeout: Timeout = 10.0


class EmailParams(ReceiverParams):
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)

    to: Annotated[list[Address], _some("address, e.g. [oncall@example.com]")]
    from_: Address | None = Field(default=None, alias="from")
    smtp: Annotated[PlainText, AfterValidator(_smtp_url)]
    # smtp://: STARTTLS is required unless turned off (then nothing is encrypted)
    starttls: bool = True
    username: PlainText | None = None
    password: SecretReference | None = None
    ca_file: PlainText | None = None  # trusted for the server's certificate, besides the system's

    @model_validator(mode="after")
    def _credentials(self) -> EmailParams:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (SMTP AUTH needs both)")
        plain = self.smtp.strip().startswith("smtp:") and not self.starttls
        if plain and self.password is not None:
            raise ValueError(
                "starttls: false would send the password in the clear: keep STARTTLS on, or "
                "use smtps://"
            )
        return self

    @property
    def implicit_tls(self) -> bool:
        return self.smtp.strip().startswith("smtps:")


class SlackParams(ReceiverParams):
    """A Slack incoming webhook."""

    secret_fields: ClassVar[tuple[str, ...]] = ("url",)

    url: HttpUrl
    channel: PlainText | None = None
    username: PlainText | None = None
    icon_emoji: PlainText | None = None


class WebhookParams(ReceiverParams):
    """A POST of Alertmanager's webhook JSON (version 4)."""

    secret_fields: ClassVar[tuple[str, ...]] = ("url", "bearer_token")

    url: HttpUrl
    max_alerts: Count = 0  # 0: every alert of the group
    bearer_token: SecretReference | None = None


class AlertmanagerParams(ReceiverParams):
    """A real Alertmanager: its /api/v2/alerts."""

    secret_fields: ClassVar[tuple[str, ...]] = ("url", "bearer_token")

    url: HttpUrl  # the Alertmanager's base URL (http://127.0.0.1:9093)
    bearer_token: SecretReference | None = None


def _apprise_urls(value: Any) -> Any:
    return {"urls": value} if isinstance(value, list) else value


def _apprise_url(value: str) -> str:
    if not _is_template(value) and "://" not in value:
        raise ValueError("is not an Apprise URL (expected SCHEME://..., e.g. ntfy://topic)")
    return value


class AppriseParams(ReceiverParams):
    """Apprise URLs (SMS gateways, ntfy, Teams, Telegram, PagerDuty...): `apprise: [URL...]`
    or `apprise: {urls: [URL...], timeout: 30s}`."""

    secret_fields: ClassVar[tuple[str, ...]] = ("urls",)

    urls: Annotated[
        list[Annotated[SecretText, AfterValidator(_apprise_url)]],
        _some("Apprise URL, e.g. ntfy://topic"),
    ]


AppriseSpec = Annotated[AppriseParams, BeforeValidator(_apprise_urls)]


class ReceiverSpec(StrictModel):
    """A named receiver: one or more receiver kinds, each with its parameters. A key that is not
    a built-in kind names a third party's (checked by config/notify.py)."""

    model_config = ConfigDict(extra="allow")

    email: EmailParams | None = None
    slack: SlackParams | None = None
    webhook: WebhookParams | None = None
    alertmanager: AlertmanagerParams | None = None
    apprise: AppriseSpec | None = None

    def builtin(self) -> dict[str, ReceiverParams]:
        found = {kind: getattr(self, kind) for kind in BUILTIN_RECEIVER_KINDS}
        return {kind: params for kind, params in found.items() if params is not None}

    def plugins(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class EscalateSpec(StrictModel):
    after: PositiveDuration
    to: ReceiverName


class RouteSpec(StrictModel):
    """A node of the route tree, as Alertmanager's; what is not written is the parent's."""

    receiver: ReceiverName | None = None
    group_by: list[GroupingLabel] | None = None
    group_wait: Duration | None = None
    group_interval: PositiveDuration | None = None
    repeat_interval: PositiveDuration | None = None
    match: dict[LabelName, str] = Field(default_factory=dict)
    matchers: list[MatcherText] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteSpec] = Field(default_factory=list)
    escalate: EscalateSpec | None = None


class InhibitRuleSpec(StrictModel):
    source: SomeMatchers
    target: SomeMatchers
    equal: list[LabelName] = Field(default_factory=list)


class MaintenanceWindowSpec(StrictModel):
    name: NonEmptyText
    cron: NonEmptyText  # checked by config/notify.py (APScheduler is imported only then)
    duration: PositiveDuration
    # at least one: a window for every alert says so (host=~".+")
    matchers: SomeMatchers
    comment: str = ""


class DeliverySettings(StrictModel):
    """How the outbox's worker retries (notify/delivery.py), and how long a `jarvisctl run`
    waits at its end for its notifications to go out (what is left, the daemon or the next
    notifying run sends)."""

    retry_after: PositiveDuration = 5.0  # the first retry's delay, doubled at each failure
    retry_max: PositiveDuration = 300.0  # ... up to this
    give_up_after: PositiveDuration = 86400.0  # a notification still failing then is given up
    run_wait: Duration = 10.0


class NotifySettings(StrictModel):
    receivers: dict[ReceiverName, ReceiverSpec] = Field(default_factory=dict)
    route: RouteSpec
    # None: the default rule (an unreachable host inhibits its own check alerts); []: none
    inhibit: list[InhibitRuleSpec] | None = None
    maintenance: list[MaintenanceWindowSpec] = Field(default_factory=list)
    # `jarvisctl run` notifies as `--notify` would (the daemon always does)
    on_run: bool = False
    # jarvisctl's own silences (a rollout turn, a reboot step, a backup) last this long after
    # the work ends, so that the checks that saw the host down during it run again meanwhile
    maintenance_grace: Duration = 60.0
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
