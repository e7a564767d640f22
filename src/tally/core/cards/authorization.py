"""Authorizations: approve (an inflight hold on the card's balance) or decline with a reason.

Decision order (first failing check wins, so the reason is the most basic one):
1. ``card_closed`` / ``card_blocked``: the card's state;
2. ``currency_mismatch``: the authorization's currency is not the card's;
3. ``merchant_not_allowed``: the card is locked to merchants and this one is not among them;
4. ``limit_exceeded``: more than the per-authorization limit, or today's approved authorizations
   (UTC day; pending or captured, not reversed or expired) plus this one exceed the per-day limit;
5. ``insufficient_funds``: decided by the ledger itself (the hold cannot be placed).

Capture: all that remains, or part of it (the rest is released at once). Reverse: release it all.
Expiry: a pending authorization past ``expires_at`` is released and marked ``EXPIRED``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tally.core.ledger.transfers import TransferPlan, TransferRequest, plan_transfer

from . import fields
from .errors import AuthorizationNotPending, CaptureExceedsAuthorization
from .model import CardState, VirtualCard

NETWORK_INDICATOR = "@CardNetwork"


class AuthStatus:
    PENDING = "PENDING"
    CAPTURED = "CAPTURED"
    REVERSED = "REVERSED"
    EXPIRED = "EXPIRED"
    DECLINED = "DECLINED"


class Decline:
    CARD_BLOCKED = "card_blocked"
    CARD_CLOSED = "card_closed"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    LIMIT_EXCEEDED = "limit_exceeded"
    MERCHANT_NOT_ALLOWED = "merchant_not_allowed"
    CURRENCY_MISMATCH = "currency_mismatch"


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    amount: int
    currency: str
    merchant_id: str
    merchant_name: str = ""
    merchant_category: str = ""


@dataclass(slots=True)
class Authorization:
    auth_id: str
    card_id: str
    amount: int
    currency: str
    merchant_id: str
    merchant_name: str
    merchant_category: str
    status: str
    created_at: datetime
    updated_at: datetime
    decline_reason: str | None = None
    decline_message: str = ""
    hold_transaction_id: str | None = None
    captured_amount: int = 0
    released_amount: int = 0
    expires_at: datetime | None = None
    meta_data: dict[str, Any] = field(default_factory=dict)


def parse_request(raw: dict[str, Any]) -> AuthorizationRequest:
    return AuthorizationRequest(
        amount=fields.amount(raw.get("amount"), "amount"),
        currency=fields.currency(raw.get("currency")),
        merchant_id=fields.merchant_id(raw.get("merchant_id")),
        merchant_name=fields.text(raw.get("merchant_name"), "merchant_name", required=False),
        merchant_category=fields.text(
            raw.get("merchant_category"), "merchant_category", required=False, limit=32
        ),
    )


def static_decline(card: VirtualCard, req: AuthorizationRequest) -> tuple[str, str] | None:
    """Checks that need no ledger and no history: (reason, message) or None."""
    if card.state == CardState.CLOSED:
        return Decline.CARD_CLOSED, f"card {card.card_id} is closed"
    if card.state == CardState.BLOCKED:
        return Decline.CARD_BLOCKED, f"card {card.card_id} is blocked"
    if req.currency != card.currency:
        return (
            Decline.CURRENCY_MISMATCH,
            f"the card is in {card.currency}; the authorization is in {req.currency}",
        )
    if card.merchant_lock is not None and req.merchant_id not in card.merchant_lock:
        return (
            Decline.MERCHANT_NOT_ALLOWED,
            f"the card is locked to merchants {card.merchant_lock}",
        )
    limit = card.limits.per_authorization
    if limit is not None and req.amount > limit:
        return (
            Decline.LIMIT_EXCEEDED,
            f"{req.amount} is over the per-authorization limit of {limit}",
        )
    return None


def daily_decline(card: VirtualCard, amount: int, spent_today: int) -> tuple[str, str] | None:
    """The per-day check, given today's approved total (read with the card row locked)."""
    limit = card.limits.per_day
    if limit is not None and spent_today + amount > limit:
        return (
            Decline.LIMIT_EXCEEDED,
            f"{spent_today} already approved today; {amount} more is over the per-day "
            f"limit of {limit}",
        )
    return None


def day_start(now: datetime) -> datetime:
    """The start of ``now``'s UTC day: the window of the per-day limit."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def expiry(now: datetime, hold_seconds: int) -> datetime:
    return now + timedelta(seconds=hold_seconds)


def hold_plan(card: VirtualCard, auth: Authorization, *, now: datetime) -> TransferPlan:
    """The inflight hold: card balance -> the network settlement indicator, in minor units."""
    return plan_transfer(
        TransferRequest(
            currency=card.currency,
            reference=auth.auth_id,
            description=f"Card authorization at {auth.merchant_name or auth.merchant_id}",
            precise_amount=auth.amount,
            precision=1,
            source=card.balance_id,
            destination=NETWORK_INDICATOR,
            inflight=True,
            meta_data={
                "card_id": card.card_id,
                "auth_id": auth.auth_id,
                "merchant_id": auth.merchant_id,
                "merchant_name": auth.merchant_name,
                "merchant_category": auth.merchant_category,
            },
        ),
        now=now,
    )


def check_pending(auth: Authorization, action: str) -> None:
    if auth.status != AuthStatus.PENDING:
        raise AuthorizationNotPending(
            f"authorization {auth.auth_id} is {auth.status}; only a PENDING authorization can be "
            f"{action}",
            details={"status": auth.status},
        )


def capture_amount(auth: Authorization, requested: Any) -> int:
    """What a capture takes: all of it (``None``) or a part; never more than was authorized."""
    check_pending(auth, "captured")
    if requested is None:
        return auth.amount
    value = fields.amount(requested, "amount")
    if value > auth.amount:
        raise CaptureExceedsAuthorization(
            f"cannot capture {value}: authorization {auth.auth_id} holds {auth.amount}",
            details={"authorized": auth.amount, "requested": value},
        )
    return value
