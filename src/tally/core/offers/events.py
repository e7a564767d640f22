"""Payloads of the offer events delivered by webhook (``offer.redeemed``,
``offer.redemption.reversed``, ``offer.redemption.finalized``).

A payload carries the redemption as ``GET /redemptions/{id}`` shows it, plus the offer, the card
(masked: brand and last four), the person and the card transaction it came from.
"""

from __future__ import annotations

from typing import Any

from .feed import CardTransaction, Redemption, redemption_view
from .model import LinkedCard, Offer


def redeemed_payload(
    redemption: Redemption, offer: Offer, card: LinkedCard, ctx: CardTransaction
) -> dict[str, Any]:
    return {
        **redemption_view(redemption),
        "offer": {
            "offer_id": offer.offer_id,
            "name": offer.name,
            "merchant_id": offer.merchant_id,
            "pos_text": offer.pos_text,
        },
        "card": {"card_id": card.card_id, "brand": card.brand, "last4": card.last4},
        "merchant_id": ctx.merchant_id,
        "card_transaction": {
            "card_transaction_id": ctx.ctx_id,
            "id": ctx.network_id,
            "type": ctx.type,
            "amount": ctx.amount,
            "currency": ctx.currency,
        },
    }


def redemption_payload(redemption: Redemption, **extra: Any) -> dict[str, Any]:
    return {**redemption_view(redemption), **extra}
