"""``tally.webhooks.verify``: what a Python receiver calls on every delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from tally.core.events.envelope import encode_body, event_envelope
from tally.core.events.subscriptions import new_secret
from tally.webhooks import WebhookVerificationError, verify
from tally.workers.delivery import sign_headers

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BODY = encode_body(event_envelope("evt_1", "transaction.applied", NOW, {"amount": 42}))


def test_a_genuine_delivery_returns_the_event() -> None:
    secret = new_secret()
    headers = sign_headers("evt_1", BODY, [secret], at=NOW)
    event = verify(BODY.encode(), headers, secret, now=NOW + timedelta(seconds=3))
    assert event == {
        "id": "evt_1",
        "type": "transaction.applied",
        "created_at": "2026-03-01T12:00:00Z",
        "data": {"amount": 42},
    }


def test_the_reference_library_accepts_what_tally_signs() -> None:
    secret = new_secret()
    headers = sign_headers("evt_1", BODY, [secret], at=datetime.now(UTC))
    assert Webhook(secret).verify(BODY, headers)["id"] == "evt_1"


def test_header_names_are_case_insensitive_and_any_rotation_secret_works() -> None:
    old, new = new_secret(), new_secret()
    headers = {k.upper(): v for k, v in sign_headers("evt_1", BODY, [new, old], at=NOW).items()}
    assert verify(BODY, headers, old, now=NOW)["id"] == "evt_1"
    assert verify(BODY, headers, [new_secret(), new], now=NOW)["id"] == "evt_1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), "invalid_signature"),
        (lambda h, b: (h, b.replace("42", "43")), "invalid_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing_header"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "invalid_timestamp"),
        (lambda h, b: ({**h, "webhook-id": "evt_2"}, b), "invalid_signature"),
    ],
)
def test_tampering_is_caught(change: object, reason: str) -> None:
    secret = new_secret()
    headers, body = change(sign_headers("evt_1", BODY, [secret], at=NOW), BODY)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, headers, secret, now=NOW)
    assert caught.value.reason == reason


def test_a_wrong_secret_is_refused() -> None:
    headers = sign_headers("evt_1", BODY, [new_secret()], at=NOW)
    with pytest.raises(WebhookVerificationError, match="secret"):
        verify(BODY, headers, new_secret(), now=NOW)


def test_timestamps_outside_the_tolerance_are_refused() -> None:
    secret = new_secret()
    headers = sign_headers("evt_1", BODY, [secret], at=NOW)
    with pytest.raises(WebhookVerificationError) as old:
        verify(BODY, headers, secret, now=NOW + timedelta(minutes=6))
    assert old.value.reason == "timestamp_too_old"
    with pytest.raises(WebhookVerificationError) as new:
        verify(BODY, headers, secret, now=NOW - timedelta(minutes=6))
    assert new.value.reason == "timestamp_too_new"
    assert (
        verify(
            BODY, headers, secret, now=NOW + timedelta(minutes=6), tolerance=timedelta(minutes=10)
        )["id"]
        == "evt_1"
    )
