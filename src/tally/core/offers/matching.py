"""Which offer a clearing earns, and why the others (or none) did not.

A clearing qualifies for an offer when every check passes; the reasons below are stable codes that
``GET /card-transactions/{id}`` returns per offer:

- ``link_inactive``: the card was unlinked from the offer;
- ``merchant_mismatch``: the transaction is at another merchant;
- ``offer_paused`` / ``offer_ended`` / ``offer_not_started``: status or window (by the transaction's
  time);
- ``currency_mismatch``, ``below_minimum_spend``;
- ``card_limit_reached`` / ``total_limit_reached``: the offer's per-card or total redemption limit;
- ``zero_reward``: the reward would round down to nothing;
- ``funding_exhausted``: the offer's prepaid funding balance cannot pay the reward.

Stacking: one reward per transaction. The qualifying offer with the largest reward wins; on a tie
the most recently created offer wins (as Fidel does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .model import CardOffer, Offer, OfferStatus


@dataclass(frozen=True, slots=True)
class Spend:
    """The part of a card transaction that matching looks at."""

    merchant_id: str
    amount: int
    currency: str
    occurred_at: datetime


@dataclass(slots=True)
class Match:
    offer: Offer | None
    reward: int
    explanation: dict[str, Any] = field(default_factory=dict)


MESSAGES = {
    "link_inactive": "the card is no longer linked to this offer",
    "merchant_mismatch": "the transaction is at another merchant",
    "offer_paused": "the offer is paused",
    "offer_ended": "the offer has ended",
    "offer_not_started": "the offer had not started yet",
    "currency_mismatch": "the transaction is in another currency than the offer",
    "below_minimum_spend": "the amount is below the offer's minimum spend",
    "card_limit_reached": "the card has used all its redemptions of this offer",
    "total_limit_reached": "the offer has used all its redemptions",
    "zero_reward": "the reward rounds down to nothing",
    "funding_exhausted": "the offer's funding balance cannot pay the reward",
    "card_not_enrolled": "the card is not enrolled (no Card for this id or number)",
    "no_linked_offers": "the card is not linked to any offer",
    "no_offer_qualified": "no linked offer qualified",
    "not_a_clearing": "rewards are decided when the transaction clears",
}


def reasons(offer: Offer, link: CardOffer, spend: Spend) -> list[str]:
    found: list[str] = []
    if link.status != "active":
        found.append("link_inactive")
    if offer.merchant_id != spend.merchant_id:
        found.append("merchant_mismatch")
    if offer.status == OfferStatus.PAUSED:
        found.append("offer_paused")
    if offer.status == OfferStatus.ENDED or (
        offer.ends_at is not None and spend.occurred_at >= offer.ends_at
    ):
        found.append("offer_ended")
    if offer.starts_at is not None and spend.occurred_at < offer.starts_at:
        found.append("offer_not_started")
    if offer.currency != spend.currency:
        found.append("currency_mismatch")
    if spend.amount < offer.min_spend:
        found.append("below_minimum_spend")
    if offer.max_per_card is not None and link.redemption_count >= offer.max_per_card:
        found.append("card_limit_reached")
    if offer.max_total is not None and offer.redemption_count >= offer.max_total:
        found.append("total_limit_reached")
    if not found and offer.reward.value(spend.amount) <= 0:
        found.append("zero_reward")
    return found


def explain(reason: str, offers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"matched": False, "reason": reason, "message": MESSAGES[reason], "offers": offers or []}


def choose(candidates: list[tuple[Offer, CardOffer]], spend: Spend) -> Match:
    if not candidates:
        return Match(None, 0, explain("no_linked_offers"))
    checked = []
    winners: list[tuple[int, datetime, str, Offer]] = []
    for offer, link in candidates:
        why = reasons(offer, link, spend)
        checked.append(
            {
                "offer_id": offer.offer_id,
                "qualified": not why,
                "reasons": why,
                "messages": [MESSAGES[r] for r in why],
            }
        )
        if not why:
            winners.append(
                (offer.reward.value(spend.amount), offer.created_at, offer.offer_id, offer)
            )
    if not winners:
        return Match(None, 0, explain("no_offer_qualified", checked))
    reward, _, _, best = max(winners, key=lambda w: (w[0], w[1], w[2]))
    return Match(
        best,
        reward,
        {
            "matched": True,
            "reason": "matched",
            "message": f"offer {best.offer_id} applied",
            "offers": checked,
        },
    )


def clawback(reward: int, spend: int, refunded_spend: int, already_reversed: int) -> int:
    """How much more of a reward to take back after refunds totalling ``refunded_spend``.

    Proportional, rounded down in the person's favour; a full refund takes back all that is left.
    """
    target = reward if refunded_spend >= spend else reward * refunded_spend // spend
    return max(0, min(reward, target) - already_reversed)
