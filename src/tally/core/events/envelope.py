"""The event as it is listed by ``GET /events`` and delivered to webhooks.

``{"id": "evt_…", "type": "transaction.applied", "created_at": "…", "data": {…}}``: ``data`` is
the object's wire view at the time of the change (what a GET returned right after it).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tally.core.clock import format_timestamp


def event_envelope(
    event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": event_type,
        "created_at": format_timestamp(created_at),
        "data": data,
    }


def encode_body(envelope: dict[str, Any]) -> str:
    """The exact body that is signed and sent (compact JSON, UTF-8, stable key order)."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, default=str)
