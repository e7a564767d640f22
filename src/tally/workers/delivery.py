"""One HTTP attempt: sign with Standard Webhooks headers, POST, and describe what happened."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
from standardwebhooks.webhooks import Webhook

from tally import __version__
from tally.core.events.retry import Outcome, parse_retry_after

EXCERPT_CHARS = 1000
USER_AGENT = f"Tally-Webhooks/{__version__}"


def sign_headers(msg_id: str, body: str, secrets: list[str], *, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers; one ``v1,`` signature per secret (rotation), space-joined."""
    signatures = " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


async def attempt(
    client: httpx.AsyncClient,
    url: str,
    body: str,
    headers: dict[str, str],
    *,
    timeout_seconds: float,
    now: datetime,
) -> Outcome:
    started = time.perf_counter()
    try:
        response = await client.post(
            url, content=body.encode(), headers=headers, timeout=timeout_seconds
        )
        text = response.text[:EXCERPT_CHARS]
    except httpx.TimeoutException:
        return Outcome(None, _ms(started), error=f"timed out after {timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        return Outcome(None, _ms(started), error=f"{type(exc).__name__}: {exc}"[:500])
    retry_after = None
    if response.status_code in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
    error = None
    if 300 <= response.status_code < 400:
        error = f"HTTP {response.status_code}: redirects are not followed"
    return Outcome(
        response.status_code,
        _ms(started),
        error=error,
        response_excerpt=text,
        retry_after=retry_after,
    )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
