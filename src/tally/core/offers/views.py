"""Wire shapes of offers, persons, linked cards, links, card transactions and redemptions.

A linked card is shown as brand, first six, last four and expiry; its fingerprint is internal.
"""

from __future__ import annotations

from typing import Any

from tally.core.cards.pan import masked
from tally.core.clock import format_timestamp

from .model import CardOffer, LinkedCard, Offer, Person


def _ts(value: Any) -> str | None:
    return format_timestamp(value) if value is not None else None


def offer_view(offer: Offer) -> dict[str, Any]:
    return {
        "offer_id": offer.offer_id,
        "merchant_id": offer.merchant_id,
        "name": offer.name,
        "pos_text": offer.pos_text,
        "reward": offer.reward.as_dict(),
        "currency": offer.currency,
        "min_spend": offer.min_spend,
        "starts_at": _ts(offer.starts_at),
        "ends_at": _ts(offer.ends_at),
        "max_per_card": offer.max_per_card,
        "max_total": offer.max_total,
        "redemption_count": offer.redemption_count,
        "status": offer.status,
        "return_period_days": offer.return_period_days,
        "pay_with_points": offer.pay_with_points.as_dict() if offer.pay_with_points else None,
        "created_at": format_timestamp(offer.created_at),
        "updated_at": format_timestamp(offer.updated_at),
        "meta_data": offer.meta_data,
    }


def person_view(person: Person) -> dict[str, Any]:
    return {
        "person_id": person.person_id,
        "full_name": person.full_name,
        "email": person.email,
        "points_balance_id": person.points_balance_id,
        "created_at": format_timestamp(person.created_at),
        "meta_data": person.meta_data,
    }


def card_view(card: LinkedCard) -> dict[str, Any]:
    return {
        "card_id": card.card_id,
        "person_id": card.person_id,
        "brand": card.brand,
        "first6": card.first6,
        "last4": card.last4,
        "number": masked(card.first6, card.last4),
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "created_at": format_timestamp(card.created_at),
        "meta_data": card.meta_data,
    }


def card_offer_view(link: CardOffer) -> dict[str, Any]:
    return {
        "card_offer_id": link.card_offer_id,
        "card_id": link.card_id,
        "offer_id": link.offer_id,
        "status": link.status,
        "redemption_count": link.redemption_count,
        "created_at": format_timestamp(link.created_at),
        "updated_at": format_timestamp(link.updated_at),
    }
