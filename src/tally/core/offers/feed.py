"""The card network's feed: ``auth``, ``clearing``, ``refund`` and ``reversal`` messages.

A message names its card by ``card_id`` or by ``number``; a number is fingerprinted at once by the
caller and dropped (it is returned separately here so that nothing else ever holds it). Amounts
are positive integer minor units whatever the type. ``auth_id`` (or ``related_id``) is the network
id of the message this one relates to: the auth a clearing settles or a reversal cancels, the
clearing a refund returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tally.core.cards import fields, pan
from tally.core.cards.errors import CardFieldInvalid
from tally.core.clock import format_timestamp

from .errors import CvvNotAccepted
from .model import timestamp

TYPES = ("auth", "clearing", "refund", "reversal")
CVV_KEYS = ("cvv", "cvc", "cvv2", "cvc2", "cid", "security_code")


class Outcome:
    RECORDED = "recorded"
    POINTS_HELD = "points_held"
    POINTS_CAPTURED = "points_captured"
    POINTS_RELEASED = "points_released"
    REWARDED = "rewarded"
    NOT_MATCHED = "not_matched"
    REDEMPTION_REVERSED = "redemption_reversed"
    CARD_NOT_ENROLLED = "card_not_enrolled"


@dataclass(frozen=True, slots=True)
class FeedItem:
    network_id: str
    type: str
    card_id: str | None
    merchant_id: str
    amount: int
    currency: str
    related_network_id: str | None
    occurred_at: datetime
    time_given: bool = True

    def digest_fields(self, card_id: str | None) -> str:
        """What makes two messages with one network id the same message (no card number)."""
        return "|".join(
            [
                self.network_id,
                self.type,
                card_id or "",
                self.merchant_id,
                str(self.amount),
                self.currency,
                self.related_network_id or "",
                format_timestamp(self.occurred_at) if self.time_given else "",
            ]
        )


@dataclass(slots=True)
class CardTransaction:
    ctx_id: str
    network_id: str
    type: str
    card_id: str | None
    merchant_id: str
    amount: int
    currency: str
    related_network_id: str | None
    occurred_at: datetime
    outcome: str
    explanation: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    offer_id: str | None = None
    redemption_id: str | None = None
    points_offer_id: str | None = None
    points_currency: str | None = None
    points_held: int | None = None
    points_hold_id: str | None = None
    points_status: str | None = None
    points_expires_at: datetime | None = None


@dataclass(slots=True)
class Redemption:
    redemption_id: str
    offer_id: str
    card_id: str
    person_id: str
    card_transaction_id: str
    kind: str  # reward | pay_with_points
    reward_type: str
    amount: int
    currency: str
    spend: int
    status: str  # pending | final | partially_reversed | reversed
    transaction_id: str
    created_at: datetime
    updated_at: datetime
    refunded_spend: int = 0
    reversed_amount: int = 0
    final_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_feed(raw: dict[str, Any], *, now: datetime) -> tuple[FeedItem, str | None]:
    """The message and, separately, the card number's digits if the card was given by number."""
    for key in CVV_KEYS:
        if key in raw:
            raise CvvNotAccepted(
                "a card transaction must not carry a CVV; remove it", details={"field": key}
            )
    kind = raw.get("type")
    if kind not in TYPES:
        raise CardFieldInvalid(f"type must be one of {list(TYPES)}", details={"field": "type"})
    card_id, number = raw.get("card_id"), raw.get("number")
    if (card_id is None) == (number is None):
        raise CardFieldInvalid(
            "give exactly one of card_id or number", details={"field": "card_id"}
        )
    digits = pan.normalize(number) if number is not None else None
    related = raw.get("auth_id", raw.get("related_id"))
    if kind in ("refund", "reversal") and related is None:
        raise CardFieldInvalid(
            f"a {kind} needs auth_id: the network id it relates to", details={"field": "auth_id"}
        )
    item = FeedItem(
        network_id=fields.text(raw.get("id"), "id"),
        type=kind,
        card_id=fields.identifier(card_id, "card_id", "card") if card_id is not None else None,
        merchant_id=fields.merchant_id(raw.get("merchant_id")),
        amount=fields.amount(raw.get("amount"), "amount"),
        currency=fields.currency(raw.get("currency")),
        related_network_id=fields.text(related, "auth_id") if related is not None else None,
        occurred_at=timestamp(raw.get("datetime"), "datetime") or now,
        time_given=raw.get("datetime") is not None,
    )
    return item, digits


def transaction_view(ctx: CardTransaction) -> dict[str, Any]:
    points = None
    if ctx.points_offer_id is not None:
        points = {
            "offer_id": ctx.points_offer_id,
            "points_currency": ctx.points_currency,
            "points": ctx.points_held,
            "hold_transaction_id": ctx.points_hold_id,
            "status": ctx.points_status,
            "expires_at": format_timestamp(ctx.points_expires_at)
            if ctx.points_expires_at
            else None,
        }
    return {
        "card_transaction_id": ctx.ctx_id,
        "id": ctx.network_id,
        "type": ctx.type,
        "card_id": ctx.card_id,
        "merchant_id": ctx.merchant_id,
        "amount": ctx.amount,
        "currency": ctx.currency,
        "auth_id": ctx.related_network_id,
        "datetime": format_timestamp(ctx.occurred_at),
        "outcome": ctx.outcome,
        "offer_id": ctx.offer_id,
        "redemption_id": ctx.redemption_id,
        "explanation": ctx.explanation,
        "pay_with_points": points,
        "created_at": format_timestamp(ctx.created_at),
        "updated_at": format_timestamp(ctx.updated_at),
    }


def redemption_view(r: Redemption) -> dict[str, Any]:
    return {
        "redemption_id": r.redemption_id,
        "offer_id": r.offer_id,
        "card_id": r.card_id,
        "person_id": r.person_id,
        "card_transaction_id": r.card_transaction_id,
        "kind": r.kind,
        "reward_type": r.reward_type,
        "amount": r.amount,
        "currency": r.currency,
        "spend": r.spend,
        "refunded_spend": r.refunded_spend,
        "reversed_amount": r.reversed_amount,
        "status": r.status,
        "transaction_id": r.transaction_id,
        "final_at": format_timestamp(r.final_at) if r.final_at else None,
        "created_at": format_timestamp(r.created_at),
        "updated_at": format_timestamp(r.updated_at),
        **r.extra,
    }
