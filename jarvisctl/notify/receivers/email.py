"""E-mail over SMTP, with the standard library: `smtp://` speaks STARTTLS (required unless
`starttls: false`), `smtps://` TLS from the first byte; AUTH when a username is given. The
server's certificate is checked against the system's CAs and `ca_file`.

Each message carries the notification's key in its Message-ID, so that a mail system which
drops duplicate Message-IDs drops a retried one too."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

from jarvisctl.config.models.notify import EmailParams
from jarvisctl.core.alerts import Notification
from jarvisctl.notify.message import body, subject
from jarvisctl.notify.receivers.base import DeliveryError, ReceiverKind, SendContext

PORTS = {"smtp": 25, "smtps": 465}


def email_message(params: EmailParams, notification: Notification, hostname: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = params.from_ or f"jarvisctl@{hostname}"
    message["To"] = ", ".join(params.to)
    message["Subject"] = subject(notification)
    message["Date"] = formatdate(notification.created_at, usegmt=True)
    message["Message-ID"] = f"<{notification.key}@{hostname}>"
    message["X-Jarvisctl-Notification-Key"] = notification.key
    message.set_content(body(notification))
    return message


class Email(ReceiverKind[EmailParams]):
    name = "email"
    params_model = EmailParams

    def send(self, params: EmailParams, notification: Notification, context: SendContext) -> None:
        message = email_message(params, notification, context.hostname)
        parts = urlsplit(params.smtp.strip())
        host, port = parts.hostname or "", parts.port or PORTS[parts.scheme]
        target = f"{parts.scheme}://{host}:{port}"
        try:
            with _connect(params, host, port) as server:
                if not params.implicit_tls and params.starttls:
                    _starttls(server, params, target)
                if params.username is not None and params.password is not None:
                    server.login(params.username, params.password)
                server.send_message(message)
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, TLS
            raise _failure(exc, target, params.timeout) from None


def _failure(exc: BaseException, target: str, timeout: float) -> DeliveryError:
    """What went wrong, and whether another attempt may work."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"{target} refused the login: {_said(exc)}", retryable=False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(sorted(exc.recipients))
        return DeliveryError(f"{target} refused the recipients {refused}", retryable=False)
    if isinstance(exc, smtplib.SMTPResponseException):
        retry = 400 <= exc.smtp_code < 500  # 4xx: try again later; 5xx: permanent
        return DeliveryError(f"{target} answered {_said(exc)}", retryable=retry)
    if isinstance(exc, ssl.SSLCertVerificationError):
        text = f"{target}: its TLS certificate is not trusted ({exc.verify_message})"
        return DeliveryError(text, retryable=False)
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"{target}: no answer within {timeout:g} s", retryable=True)
    if isinstance(exc, OSError) and exc.strerror:
        return DeliveryError(f"{target}: {exc.strerror}", retryable=True)
    return DeliveryError(f"{target}: {exc or type(exc).__name__}", retryable=True)


def _connect(params: EmailParams, host: str, port: int) -> smtplib.SMTP:
    if params.implicit_tls:
        return smtplib.SMTP_SSL(host, port, timeout=params.timeout, context=_context(params))
    return smtplib.SMTP(host, port, timeout=params.timeout)


def _starttls(server: smtplib.SMTP, params: EmailParams, target: str) -> None:
    server.ehlo()
    if not server.has_extn("starttls"):
        raise DeliveryError(
            f"{target} does not offer STARTTLS (use smtps://, or starttls: false for a server "
            "that cannot encrypt)",
            retryable=False,
        )
    server.starttls(context=_context(params))
    server.ehlo()


def _context(params: EmailParams) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if params.ca_file:
        context.load_verify_locations(params.ca_file)
    return context


def _said(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {' '.join(text.split())[:200]}".strip()
