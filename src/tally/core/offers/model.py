"""Offers, persons, linked cards and card-offer links.

Reward rules (one place):
- ``cashback`` and ``discount`` are money in the offer's currency, credited to the person's
  cashback balance; a ``discount`` is settled as a statement credit, so on the ledger it is the same
  movement, recorded with its type. ``points`` are credited to the person's points balance.
- A reward is a fixed ``amount`` (minor units or points), or a ``percent`` of the spend with an
  optional ``max_reward`` cap. Percentages are exact decimals (up to 4 places); the result is
  rounded **down** to a whole minor unit or point. A money reward never exceeds the spend.
- Points from a percentage: ``floor(spend_minor_units * percent / 100)``; e.g. 1% of EUR 42.00
  (4200) is 42 points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from tally.core.cards import fields
from tally.core.cards.errors import CardFieldInvalid
from tally.core.clock import parse_timestamp
from tally.core.ledger.transfers import INDICATOR_PATTERN

REWARD_TYPES = ("cashback", "discount", "points")
MONEY_REWARDS = ("cashback", "discount")
DEFAULT_FUNDING = "@OfferFunding"
DEFAULT_POINTS_SOURCE = "@OfferPoints"
PWP_DESTINATION = "@PayWithPoints"
MAX_RETURN_DAYS = 365


class OfferStatus:
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"
    ALL = ("active", "paused", "ended")


@dataclass(frozen=True, slots=True)
class Reward:
    type: str
    amount: int | None = None
    percent: Decimal | None = None
    max_reward: int | None = None
    points_currency: str | None = None
    source: str = DEFAULT_FUNDING

    def value(self, spend: int) -> int:
        """The reward a spend earns (before limits), rounded down."""
        if self.amount is not None:
            value = self.amount
        else:
            raw = Decimal(spend) * (self.percent or Decimal(0)) / Decimal(100)
            value = int(raw.to_integral_value(rounding=ROUND_FLOOR))
            if self.max_reward is not None:
                value = min(value, self.max_reward)
        if self.type in MONEY_REWARDS:
            value = min(value, spend)
        return value

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "amount": self.amount,
            "percent": str(self.percent) if self.percent is not None else None,
            "max_reward": self.max_reward,
            "points_currency": self.points_currency,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class PayWithPoints:
    """Paying at the offer's merchant with points: ``points_per_unit`` points per minor unit."""

    points_currency: str
    points_per_unit: Decimal
    hold_hours: int = 168

    def points_for(self, amount: int) -> int:
        """Points that cover ``amount`` minor units, rounded **up** (never under-charged)."""
        raw = Decimal(amount) * self.points_per_unit
        return int(raw.to_integral_value(rounding=ROUND_CEILING))

    def as_dict(self) -> dict[str, Any]:
        return {
            "points_currency": self.points_currency,
            "points_per_unit": str(self.points_per_unit),
            "hold_hours": self.hold_hours,
        }


@dataclass(slots=True)
class Offer:
    offer_id: str
    merchant_id: str
    name: str
    pos_text: str
    reward: Reward
    currency: str
    min_spend: int
    status: str
    created_at: datetime
    updated_at: datetime
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    max_per_card: int | None = None
    max_total: int | None = None
    redemption_count: int = 0
    return_period_days: int = 0
    pay_with_points: PayWithPoints | None = None
    meta_data: dict[str, Any] = field(default_factory=dict)

    def live_at(self, when: datetime) -> bool:
        return (
            self.status == OfferStatus.ACTIVE
            and (self.starts_at is None or self.starts_at <= when)
            and (self.ends_at is None or when < self.ends_at)
        )


@dataclass(slots=True)
class Person:
    person_id: str
    full_name: str
    email: str
    created_at: datetime
    points_balance_id: str | None = None
    meta_data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class LinkedCard:
    card_id: str
    person_id: str
    fingerprint: str
    brand: str
    first6: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: datetime
    meta_data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CardOffer:
    card_offer_id: str
    card_id: str
    offer_id: str
    status: str  # active | unlinked
    redemption_count: int
    created_at: datetime
    updated_at: datetime


# ---- parsing --------------------------------------------------------------------------------


def _decimal(value: Any, name: str, *, high: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CardFieldInvalid(
            f'{name} must be a number such as 5 or "2.5"', details={"field": name}
        )
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise CardFieldInvalid(
            f'{name} must be a number such as 5 or "2.5"', details={"field": name}
        ) from None
    if not number.is_finite() or number <= 0 or number > high:
        raise CardFieldInvalid(
            f"{name} must be greater than 0 and at most {high}", details={"field": name}
        )
    if number.as_tuple().exponent < -4:  # type: ignore[operator]
        raise CardFieldInvalid(f"{name} has more than 4 decimal places", details={"field": name})
    return number.normalize() if number == number.to_integral_value() else number


def _source(value: Any, name: str, default: str) -> str:
    if value is None:
        return default
    found = fields.text(value, name, limit=80)
    if not (INDICATOR_PATTERN.match(found) or found.startswith("bln_")):
        raise CardFieldInvalid(
            f"{name} must be an @indicator or a balance id (bln_...)", details={"field": name}
        )
    return found


def parse_reward(raw: Any) -> Reward:
    if not isinstance(raw, dict):
        raise CardFieldInvalid("reward must be an object with a type", details={"field": "reward"})
    kind = raw.get("type")
    if kind not in REWARD_TYPES:
        raise CardFieldInvalid(
            f"reward.type must be one of {list(REWARD_TYPES)}", details={"field": "reward.type"}
        )
    has_amount, has_percent = raw.get("amount") is not None, raw.get("percent") is not None
    if has_amount == has_percent:
        raise CardFieldInvalid(
            "reward needs exactly one of amount (fixed) or percent", details={"field": "reward"}
        )
    if has_amount and raw.get("max_reward") is not None:
        raise CardFieldInvalid(
            "reward.max_reward only applies to a percent reward",
            details={"field": "reward.max_reward"},
        )
    points = kind == "points"
    if points and raw.get("points_currency") is None:
        raise CardFieldInvalid(
            "a points reward needs reward.points_currency (the point unit)",
            details={"field": "reward.points_currency"},
        )
    return Reward(
        type=kind,
        amount=fields.amount(raw["amount"], "reward.amount") if has_amount else None,
        percent=_decimal(
            raw["percent"], "reward.percent", high=Decimal(10_000) if points else Decimal(100)
        )
        if has_percent
        else None,
        max_reward=fields.optional_amount(raw.get("max_reward"), "reward.max_reward"),
        points_currency=(
            fields.currency(raw["points_currency"], "reward.points_currency") if points else None
        ),
        source=_source(
            raw.get("source"), "reward.source", DEFAULT_POINTS_SOURCE if points else DEFAULT_FUNDING
        ),
    )


def parse_pay_with_points(raw: Any) -> PayWithPoints | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise CardFieldInvalid(
            "pay_with_points must be an object", details={"field": "pay_with_points"}
        )
    hours = raw.get("hold_hours", 168)
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 31 * 24:
        raise CardFieldInvalid(
            "pay_with_points.hold_hours must be 1 to 744",
            details={"field": "pay_with_points.hold_hours"},
        )
    return PayWithPoints(
        points_currency=fields.currency(
            raw.get("points_currency"), "pay_with_points.points_currency"
        ),
        points_per_unit=_decimal(
            raw.get("points_per_unit", 1),
            "pay_with_points.points_per_unit",
            high=Decimal(1_000_000),
        ),
        hold_hours=hours,
    )


def timestamp(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CardFieldInvalid(f"{name} must be an RFC 3339 timestamp", details={"field": name})
    try:
        return parse_timestamp(value)
    except ValueError:
        raise CardFieldInvalid(
            f"{name} must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z",
            details={"field": name},
        ) from None


def optional_count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    return fields.amount(value, name)


def parse_offer(raw: dict[str, Any], *, offer_id: str, now: datetime) -> Offer:
    status = raw.get("status", OfferStatus.ACTIVE)
    if status not in OfferStatus.ALL:
        raise CardFieldInvalid(
            f"status must be one of {list(OfferStatus.ALL)}", details={"field": "status"}
        )
    starts_at, ends_at = (
        timestamp(raw.get("starts_at"), "starts_at"),
        timestamp(raw.get("ends_at"), "ends_at"),
    )
    if starts_at and ends_at and ends_at <= starts_at:
        raise CardFieldInvalid("ends_at must be after starts_at", details={"field": "ends_at"})
    days = raw.get("return_period_days", 0)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_RETURN_DAYS:
        raise CardFieldInvalid(
            f"return_period_days must be 0 to {MAX_RETURN_DAYS}",
            details={"field": "return_period_days"},
        )
    meta = raw.get("meta_data") or {}
    if not isinstance(meta, dict):
        raise CardFieldInvalid("meta_data must be an object", details={"field": "meta_data"})
    min_spend = raw.get("min_spend", 0)
    return Offer(
        offer_id=offer_id,
        merchant_id=fields.merchant_id(raw.get("merchant_id")),
        name=fields.text(raw.get("name"), "name"),
        pos_text=fields.text(raw.get("pos_text"), "pos_text", required=False, limit=500),
        reward=parse_reward(raw.get("reward")),
        currency=fields.currency(raw.get("currency")),
        min_spend=fields.amount(min_spend, "min_spend", allow_zero=True),
        status=status,
        created_at=now,
        updated_at=now,
        starts_at=starts_at,
        ends_at=ends_at,
        max_per_card=optional_count(raw.get("max_per_card"), "max_per_card"),
        max_total=optional_count(raw.get("max_total"), "max_total"),
        return_period_days=days,
        pay_with_points=parse_pay_with_points(raw.get("pay_with_points")),
        meta_data=meta,
    )


def next_offer_status(offer: Offer, wanted: Any) -> str:
    from .errors import OfferStateConflict

    if wanted not in OfferStatus.ALL:
        raise CardFieldInvalid(
            f"status must be one of {list(OfferStatus.ALL)}", details={"field": "status"}
        )
    if offer.status == OfferStatus.ENDED and wanted != OfferStatus.ENDED:
        raise OfferStateConflict(f"offer {offer.offer_id} has ended; it cannot be resumed")
    return str(wanted)


def normalize_email(value: Any) -> str:
    email = fields.text(value, "email", limit=320).lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email or "@" in domain:
        raise CardFieldInvalid(
            "email must be an address such as jane@example.com", details={"field": "email"}
        )
    return email
