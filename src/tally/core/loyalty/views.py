"""Wire shapes of loyalty objects (used by the HTTP API and as event payloads).

Every object has ``id``, ``object``, ``created`` (Unix seconds) and ``created_at`` (RFC 3339).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tally.core.clock import format_timestamp

from .program import config_view
from .records import Account, Customer, Payment, PointsTx, Program, Redemption, Refund, Reward


def _times(created: datetime) -> dict[str, Any]:
    return {"created": int(created.timestamp()), "created_at": format_timestamp(created)}


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def program_view(p: Program) -> dict[str, Any]:
    return {
        "id": p.program_id,
        "object": "loyalty_program",
        "name": p.name,
        "point_unit": p.point_unit,
        "ledger_id": p.ledger_id,
        "balances": {
            "issuing": p.issuing_balance_id,
            "redemption": p.redemption_balance_id,
            "pending": p.pending_balance_id,
        },
        **config_view(p.config),
        "metadata": p.metadata,
        **_times(p.created_at),
        "updated_at": format_timestamp(p.updated_at),
    }


def customer_view(c: Customer, accounts: list[str]) -> dict[str, Any]:
    return {
        "id": c.customer_id,
        "object": "customer",
        "name": c.name,
        "email": c.email,
        "loyalty_accounts": accounts,
        "metadata": c.metadata,
        **_times(c.created_at),
    }


def account_view(a: Account, figures: dict[str, int]) -> dict[str, Any]:
    return {
        "id": a.account_id,
        "object": "loyalty_account",
        "program": a.program_id,
        "customer": a.customer_id,
        "balance_id": a.balance_id,
        **figures,
        "metadata": a.metadata,
        **_times(a.created_at),
    }


def reward_view(r: Reward) -> dict[str, Any]:
    return {
        "id": r.reward_id,
        "object": "loyalty_reward",
        "program": r.program_id,
        "name": r.name,
        "points_cost": r.points_cost,
        "discount": r.discount_amount,
        "currency": r.currency,
        "active": r.active,
        "metadata": r.metadata,
        **_times(r.created_at),
    }


def redemption_view(r: Redemption) -> dict[str, Any]:
    return {
        "id": r.redemption_id,
        "object": "loyalty_redemption",
        "program": r.program_id,
        "account": r.account_id,
        "reward": r.reward_id,
        "points": r.points,
        "discount": r.discount_amount,
        "currency": r.currency,
        "status": r.state,
        "payment": r.payment_id,
        "ledger_transaction": r.hold_transaction_id,
        "settle_transaction": r.settle_transaction_id,
        "release_reason": r.release_reason,
        "expires_at": format_timestamp(r.expires_at),
        **_times(r.created_at),
    }


def payment_view(p: Payment) -> dict[str, Any]:
    return {
        "id": p.payment_id,
        "object": "payment",
        "amount": p.amount,
        "currency": p.currency,
        "amount_discount": p.amount_discount,
        "amount_charged": p.amount_charged,
        "amount_refunded": p.amount_refunded,
        "refunded": p.amount_refunded >= p.amount_charged and p.amount_refunded > 0,
        "status": p.status,
        "customer": p.customer_id,
        "loyalty_account": p.account_id,
        "program": p.program_id,
        "redemptions": list(p.redemptions),
        "points_earned": p.points_earned,
        "points_clawed_back": p.points_clawed_back,
        "points_redeemed": p.points_redeemed,
        "points_restored": p.points_restored,
        "description": p.description,
        "metadata": p.metadata,
        **_times(p.created_at),
        "completed_at": _ts(p.completed_at),
        "failed_at": _ts(p.failed_at),
        "failure_reason": p.failure_reason,
    }


def refund_view(r: Refund) -> dict[str, Any]:
    return {
        "id": r.refund_id,
        "object": "refund",
        "payment": r.payment_id,
        "amount": r.amount,
        "currency": r.currency,
        "points_due": r.points_due,
        "points_clawed_back": r.points_clawed_back,
        "points_capped": r.points_capped,
        "points_restored": r.points_restored,
        "reason": r.reason,
        "metadata": r.metadata,
        **_times(r.created_at),
    }


def ptx_view(x: PointsTx) -> dict[str, Any]:
    source: dict[str, Any] = {}
    for key, value in (
        ("payment", x.payment_id),
        ("refund", x.refund_id),
        ("redemption", x.redemption_id),
    ):
        if value is not None:
            source[key] = value
    if x.amount is not None:
        source.update(amount=x.amount, currency=x.currency)
    view = {
        "id": x.ptx_id,
        "object": "points_transaction",
        "account": x.account_id,
        "program": x.program_id,
        "points": x.points,
        "type": x.type,
        "source": source,
        "ledger_transaction": x.ledger_transaction,
        "reason": x.reason or None,
        **_times(x.created_at),
    }
    if x.type == "earn":
        view["available_at"] = _ts(x.available_at)
    if x.details:
        view["details"] = x.details
    return view
