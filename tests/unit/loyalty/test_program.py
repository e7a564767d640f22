"""Program settings: defaults, durations, expiry dates, round trip through storage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tally.core.loyalty.errors import LoyaltyInvalid
from tally.core.loyalty.program import config_to_store, parse_config, parse_point_unit
from tally.core.loyalty.timing import parse_duration


def test_defaults_follow_seed_002() -> None:
    config = parse_config({})
    assert config.allow_negative is True
    assert config.redemption_hold_seconds == 1800
    assert config.pending_seconds == 0 and config.expiry.type == "never"
    assert config.redeemed_points_on_refund == "restore"


def test_durations() -> None:
    assert [parse_duration(v, field="x") for v in ("45s", "30m", "2h", "14d", "1w", 90)] == [
        45,
        1800,
        7200,
        1209600,
        604800,
        90,
    ]
    with pytest.raises(LoyaltyInvalid):
        parse_duration("soon", field="x")


def test_rolling_expiry_rounded_to_the_end_of_the_month() -> None:
    config = parse_config({"expiry": {"type": "rolling", "after": "30d", "round_to": "month"}})
    expires = config.expiry.expires_at(datetime(2026, 1, 20, tzinfo=UTC))
    assert expires == datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)


def test_settings_survive_storage_unchanged() -> None:
    config = parse_config(
        {
            "earning_rules": [
                {
                    "name": "base",
                    "currency": "EUR",
                    "points": 1,
                    "per_amount": 100,
                    "cap_per_member": {"points": 500, "period": "week"},
                    "conditions": {"active_from": "2026-01-01T00:00:00Z"},
                },
                {"name": "x2", "type": "multiplier", "factor": "2", "priority": 1},
            ],
            "clawback": {"allow_negative": False},
            "redemption_hold": "10m",
            "pending_period": "14d",
            "expiry": {"type": "rolling", "after": "365d"},
            "refunds": {"redeemed_points": "keep"},
            "earning_caps": {"per_payment": 1000},
        }
    )
    assert parse_config(config_to_store(config)) == config


@pytest.mark.parametrize(
    "body",
    [
        {"clawback": {"allow_negative": True}, "redemption_hold": 0},
        {"refunds": {"redeemed_points": "burn"}},
        {"expiry": {"type": "calendar"}},
        {"earning_caps": {"per_payment": -1}},
    ],
)
def test_bad_settings_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(LoyaltyInvalid):
        parse_config(body)


def test_point_unit() -> None:
    assert parse_point_unit("pts") == "PTS"
    with pytest.raises(LoyaltyInvalid):
        parse_point_unit("no spaces")
