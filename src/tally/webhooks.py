"""Verify Tally webhooks in a Python receiver.

::

    from tally.webhooks import WebhookVerificationError, verify

    @app.post("/tally-webhooks")
    async def receive(request):
        body = await request.body()          # the raw bytes, before any JSON parsing
        try:
            event = verify(body, request.headers, secret="whsec_...")
        except WebhookVerificationError as exc:
            return Response(status_code=400, content=str(exc))
        if already_seen(event["id"]):        # deliveries are at least once: dedupe on the id
            return Response(status_code=200)
        handle(event["type"], event["data"])
        return Response(status_code=200)

Tally signs per the Standard Webhooks specification: ``webhook-id`` (the event id, stable across
retries), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (``v1,<base64
HMAC-SHA256 of "<id>.<timestamp>.<body>">``, several space-separated during a secret rotation).
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

__all__ = ["DEFAULT_TOLERANCE", "WebhookVerificationError", "verify"]

DEFAULT_TOLERANCE = timedelta(minutes=5)


class WebhookVerificationError(ValueError):
    """The request is not a genuine, fresh Tally webhook; answer 400 and do not act on it.

    ``reason`` is one of ``missing_header``, ``invalid_timestamp``, ``timestamp_too_old``,
    ``timestamp_too_new``, ``invalid_signature``, ``invalid_payload``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(
        f"the {name} header is missing; is this a Tally webhook?", reason="missing_header"
    )


def _timestamp(text: str, *, now: datetime, tolerance: timedelta) -> datetime:
    try:
        when = datetime.fromtimestamp(int(text.strip()), UTC)
    except (ValueError, OverflowError):
        raise WebhookVerificationError(
            f"webhook-timestamp {text!r} is not a Unix time in seconds", reason="invalid_timestamp"
        ) from None
    if when < now - tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int((now - when).total_seconds())} s old, more than the "
            f"{int(tolerance.total_seconds())} s tolerance (a replay, or a clock out of sync)",
            reason="timestamp_too_old",
        )
    if when > now + tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int((when - now).total_seconds())} s in the future, more "
            f"than the {int(tolerance.total_seconds())} s tolerance (check this machine's clock)",
            reason="timestamp_too_new",
        )
    return when


def _passed(signature_header: str) -> list[bytes]:
    found = []
    for item in signature_header.split():
        version, _, value = item.partition(",")
        if version != "v1" or not value:
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except ValueError:
            continue
    return found


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str | Iterable[str],
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Check a delivery and return the event (``{"id", "type", "created_at", "data"}``).

    ``payload`` is the raw request body exactly as received; ``headers`` any mapping of the
    request headers (names in any case); ``secret`` the endpoint's ``whsec_…`` secret, or several
    (during your own rotation). Raises :class:`WebhookVerificationError` on a missing header, a
    timestamp outside ``tolerance``, a signature that no secret produced, or a body that is not
    a JSON object.
    """
    body = payload.decode() if isinstance(payload, bytes) else payload
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    when = _timestamp(stamp, now=now or datetime.now(UTC), tolerance=tolerance)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    passed = _passed(signatures)
    for candidate in secrets:
        expected = base64.b64decode(Webhook(candidate).sign(msg_id, when, body).split(",", 1)[1])
        if any(hmac.compare_digest(expected, sig) for sig in passed):
            return _event(body)
    raise WebhookVerificationError(
        "no webhook-signature matches this body with the given secret: check the secret (it is "
        "shown once, when the endpoint is created or its secret rotated) and verify the raw body "
        "bytes, not re-serialized JSON",
        reason="invalid_signature",
    )


def _event(body: str) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON", reason="invalid_payload") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("the body is not a JSON object", reason="invalid_payload")
    return event
