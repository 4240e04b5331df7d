"""What a receiver kind is, and how sending fails.

A kind's `send` delivers one notification with its (rendered) parameters, or raises
DeliveryError saying whether trying again later may work (a receiver down, a timeout, 5xx,
429) or not (refused credentials, a 4xx, a URL that names nothing). Messages name the
receiver by scheme://host:port only: a URL's path and query may hold its token.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar

from jarvisctl.config.models.notify import ReceiverParams
from jarvisctl.core.alerts import Notification
from jarvisctl.core.errors import EXIT_NOT_OK, JarvisError
from jarvisctl.core.frozen import frozen

P = TypeVar("P", bound=ReceiverParams)


class DeliveryError(JarvisError):
    """A notification was not delivered; `retryable` says whether a later attempt may be."""

    exit_code = EXIT_NOT_OK

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@frozen
class SendContext:
    """What every kind may need besides its parameters."""

    # where a reader follows up: the daemon's dashboard (Alertmanager's externalURL, the
    # generatorURL of an alert without one)
    external_url: str = ""
    # the sender's host name, for an e-mail's default From and Message-ID
    hostname: str = "localhost"


class ReceiverKind(ABC, Generic[P]):
    """One way of sending: `name` is its key under a receiver in jarvisctl.yml."""

    name: ClassVar[str]
    params_model: ClassVar[type[ReceiverParams]]

    def parts(self, params: P) -> tuple[P, ...]:
        """The separately deliverable parts of a receiver (each retried on its own, so that a
        retry never repeats what one part already delivered): one, unless a kind says more."""
        return (params,)

    @abstractmethod
    def send(self, params: P, notification: Notification, context: SendContext) -> None:
        """Deliver, or raise DeliveryError."""
