"""The one adapter over notice webhooks: CloudEvents 1.0 (structured JSON mode) over HTTP, with retries.

A notice goes out as a CloudEvent built by the CloudEvents SDK (``cloudevents``) and posted with httpx. Delivery
is retried with exponential backoff inside one call (connection errors, timeouts, 5xx and 429); a receiver that
stays down raises ``DeliveryError``, and the caller keeps the notice in its outbox for later. The event ``id`` is
the notice's own, stable across retries, so a receiver can drop a repeat. ``slack`` posts a
Slack/Teams-compatible ``{"text": ...}`` body instead.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from toolkit.errors import DeliveryError

__all__ = ["Format", "Notification", "Webhook"]

log = logging.getLogger(__name__)


class Format(str, enum.Enum):
    CLOUDEVENTS = "cloudevents"
    SLACK = "slack"


@dataclass(frozen=True)
class Notification:
    """One CloudEvent: ``id`` (stable per notice and transition), ``type``, ``source``, ``subject``, ``data``."""

    id: str
    type: str
    source: str
    subject: str
    data: Mapping[str, Any] = field(default_factory=dict)
    time: str | None = None
    text: str = ""  # the one-line human text (Slack/Teams body)


def _retryable(status: int) -> bool:
    return status >= 500 or status in (408, 429)


class Webhook:
    """POST notifications to one URL; ``attempts`` tries per ``send`` with exponential backoff from ``backoff``."""

    def __init__(self, url: str, *, format: Format = Format.CLOUDEVENTS, timeout: float = 5.0,  # noqa: A002
                 attempts: int = 3, backoff: float = 0.5) -> None:
        import httpx

        self.url = url
        self.format = Format(format)
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._client = httpx.Client(timeout=timeout, headers={"User-Agent": "chartkit-watch"})

    def __enter__(self) -> Webhook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _message(self, note: Notification) -> tuple[dict[str, str], bytes]:
        if self.format is Format.SLACK:
            import json

            return {"Content-Type": "application/json"}, json.dumps({"text": note.text or note.subject}).encode()
        import datetime as dt

        from cloudevents.core.bindings.http import to_structured_event
        from cloudevents.core.v1.event import CloudEvent

        attributes: dict[str, Any] = {"id": note.id, "type": note.type, "source": note.source, "subject": note.subject,
                                      "datacontenttype": "application/json"}
        if note.time:
            attributes["time"] = dt.datetime.fromisoformat(note.time.replace("Z", "+00:00"))
        message = to_structured_event(CloudEvent(attributes, dict(note.data)))
        return dict(message.headers), message.body

    def send(self, note: Notification) -> None:
        """Deliver one notification, retrying; DeliveryError when every attempt failed."""
        import httpx

        headers, body = self._message(note)
        cause = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.info("webhook %s attempt %d: %s", self.url, attempt + 1, cause)
                continue
            if response.status_code < 300:
                return
            cause = f"HTTP {response.status_code}"
            if not _retryable(response.status_code):
                break
        raise DeliveryError(f'unable to deliver notice "{note.id}" to webhook "{self.url}": {cause}',
                            hint="it stays in the outbox and is retried on the next pass")
