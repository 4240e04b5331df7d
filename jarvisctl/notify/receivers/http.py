"""POST a JSON body, with the standard library (no client library to import or install), and
turn every way it can fail into a DeliveryError that says whether to retry.

Redirects are not followed (a POST redirected would be re-sent as a GET without its body, and
a webhook that moved should be reconfigured, not guessed at); proxies from the environment
(HTTPS_PROXY...) are, as every other client on the controller does.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jarvisctl.notify.receivers.base import DeliveryError

USER_AGENT = "jarvisctl"
BODY_TAIL = 200  # characters of an error answer's body quoted in the message
# answers worth another attempt later: the receiver is busy, restarting or overloaded
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def where(url: str) -> str:
    """scheme://host:port of a URL: what a message may show of it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(an unreadable URL)"
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx answer is raised as an HTTPError


_OPENER = urllib.request.build_opener(_NoRedirects)


def post_json(
    url: str,
    body: Any,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> str:
    """POST `body` as JSON; the answer's text (at most 64 KiB) when it is 2xx."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
    )
    target = where(url)
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return answer.read(65536).decode("utf-8", "replace")  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        text = _tail(exc)
        retry = exc.code in RETRYABLE_STATUS
        raise DeliveryError(
            f"{target} answered {exc.code} {exc.reason}{text}", retryable=retry
        ) from None
    except urllib.error.URLError as exc:
        raise _failure(target, exc.reason, timeout) from None
    except (OSError, ValueError) as exc:  # a reset connection, a URL urllib cannot use
        raise _failure(target, exc, timeout) from None


def _failure(target: str, reason: object, timeout: float) -> DeliveryError:
    if isinstance(reason, TimeoutError):  # (socket.timeout is TimeoutError since 3.10)
        return DeliveryError(f"{target} did not answer within {timeout:g} s", retryable=True)
    if isinstance(reason, ssl.SSLCertVerificationError):
        message = f"{target}: its TLS certificate is not trusted ({reason.verify_message})"
        return DeliveryError(message, retryable=False)
    if isinstance(reason, ValueError):  # urllib cannot use the URL: trying again cannot help
        # (its text may quote the URL, which may hold a token)
        return DeliveryError(f"{target}: not a URL that can be posted to", retryable=False)
    if isinstance(reason, OSError) and reason.strerror:
        return DeliveryError(f"{target}: {reason.strerror}", retryable=True)
    return DeliveryError(f"{target}: {reason or type(reason).__name__}", retryable=True)


def _tail(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read(BODY_TAIL + 1).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    text = " ".join(text.split())[:BODY_TAIL]
    return f": {text}" if text else ""
