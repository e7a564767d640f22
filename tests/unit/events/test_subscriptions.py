"""Endpoint URLs and event type filters."""

from __future__ import annotations

import base64

import pytest

from tally.core.events.errors import InvalidEventTypes, InvalidWebhookUrl
from tally.core.events.subscriptions import check_url, new_secret, normalize_event_types, wants


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/tally",
        "https://example.com:8443/a?b=c",
        "https://[2606:4700:4700::1111]/x",
    ],
)
def test_https_urls_are_accepted(url: str) -> None:
    assert check_url(url, allow_loopback=False) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://example.com/x", "absolute"),
        ("/relative", "absolute"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://192.168.1.10/x", "private"),
        ("https://169.254.169.254/latest", "private"),
        ("https://example.com:99999/", "not a valid URL"),
        ("http://localhost:8000/x", "local development"),
        ("http://127.0.0.1:8000/x", "local development"),
        ("", "blank"),
    ],
)
def test_unusable_urls_are_refused_with_the_reason(url: str, words: str) -> None:
    with pytest.raises(InvalidWebhookUrl) as caught:
        check_url(url, allow_loopback=False)
    assert words in caught.value.message


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8000/x", "http://127.0.0.1:1/h", "http://[::1]:9/h", "https://localhost/x"],
)
def test_loopback_is_allowed_in_local_development(url: str) -> None:
    assert check_url(url, allow_loopback=True) == url


def test_event_type_filters() -> None:
    assert normalize_event_types(None) == ["*"]
    assert normalize_event_types(["Transaction.*", "ledger.created", "ledger.created"]) == [
        "transaction.*",
        "ledger.created",
    ]
    assert normalize_event_types(["transaction.applied", "*"]) == ["*"]
    for bad in ([], [""], ["no spaces allowed"], ["*.x"]):
        with pytest.raises(InvalidEventTypes):
            normalize_event_types(bad)


def test_which_events_an_endpoint_wants() -> None:
    assert wants(["*"], "balance.monitor")
    assert wants(["transaction.*"], "transaction.applied")
    assert not wants(["transaction.*"], "transactions.applied")
    assert wants(["ledger.created"], "ledger.created")
    assert not wants(["ledger.created"], "ledger.updated")
    assert wants(["loyalty.*"], "loyalty.points.earned")


def test_secrets_are_standard_webhooks_secrets() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert new_secret() != secret
