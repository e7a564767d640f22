"""Card numbers: Luhn, brands, expiry, keyed fingerprints, masking; errors never echo a number."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from tally.core.cards import pan
from tally.core.cards.errors import CardKeyNotConfigured

NOW = datetime(2026, 3, 15, tzinfo=UTC)
KEY = bytes(range(32))


@pytest.mark.parametrize(
    "number, brand",
    [
        ("4242424242424242", "visa"),
        ("4222222222222", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3566002020360505", "jcb"),
        ("30569309025904", "diners"),
        ("6200000000000005", "unionpay"),
    ],
)
def test_known_brands(number: str, brand: str) -> None:
    assert pan.truncate(pan.normalize(number)).brand == brand


def test_separators_are_dropped_and_only_first_six_last_four_kept() -> None:
    digits = pan.normalize("4242 4242-4242 4242")
    kept = pan.truncate(digits)
    assert (kept.first6, kept.last4) == ("424242", "4242")
    assert pan.masked(kept.first6, kept.last4) == "424242••••••4242"
    assert pan.masked(None, "4242") == "••••••••••••4242"


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424241",
        "42424242",
        "abcd" * 4,
        "4242" * 5,
        None,
        4242424242424242.0,
        "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢",
    ],
)
def test_bad_numbers_are_refused_without_echo(number: object) -> None:
    with pytest.raises(pan.InvalidCardNumber) as caught:
        pan.normalize(number)
    assert "4242424242" not in caught.value.message


def test_unknown_brand_and_wrong_length_for_brand() -> None:
    with pytest.raises(pan.UnsupportedBrand):
        pan.brand("9999999999999995")
    with pytest.raises(pan.InvalidCardNumber, match="amex"):
        pan.brand("3782822463100056")


def test_luhn() -> None:
    assert pan.luhn_valid("79927398713")
    assert not pan.luhn_valid("79927398710")


def test_expiry_runs_to_the_end_of_its_month() -> None:
    assert pan.parse_expiry(3, 26, now=NOW) == (3, 2026)
    assert pan.parse_expiry("12", "2030", now=NOW) == (12, 2030)
    for month, year in ((2, 2026), (13, 2030), (0, 2030), ("x", 2030), (True, 2030)):
        with pytest.raises(pan.CardExpired):
            pan.parse_expiry(month, year, now=NOW)


def test_fingerprint_is_a_keyed_hmac_of_the_whole_number() -> None:
    digits = "4242424242424242"
    expected = hmac.new(KEY, digits.encode(), hashlib.sha256).hexdigest()
    assert pan.fingerprint(digits, KEY) == f"fp1_{expected}"
    assert pan.fingerprint(digits, bytes(32)) != pan.fingerprint(digits, KEY)
    assert hashlib.sha256(digits.encode()).hexdigest() not in pan.fingerprint(digits, KEY)


def test_keys_come_from_configuration_only() -> None:
    assert pan.parse_key(base64.b64encode(KEY).decode(), "X") == KEY
    for bad in (None, "", "not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(CardKeyNotConfigured, match="X"):
            pan.parse_key(bad, "X")
