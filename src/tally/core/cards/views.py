"""Wire shapes of virtual cards and authorizations (also the payloads of their events).

Card details are only ever shown masked: the last four digits and the expiry. The full number and
the CVV are never part of a view.
"""

from __future__ import annotations

from typing import Any

from tally.core.clock import format_timestamp
from tally.core.ledger.records import BalanceRecord

from .authorization import Authorization
from .model import VirtualCard
from .pan import masked


def virtual_card_view(card: VirtualCard, balance: BalanceRecord | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "card_id": card.card_id,
        "holder": {"id": card.holder_id, "type": card.holder_type},
        "currency": card.currency,
        "ledger_id": card.ledger_id,
        "balance_id": card.balance_id,
        "state": card.state,
        "limits": {
            "per_authorization": card.limits.per_authorization,
            "per_day": card.limits.per_day,
        },
        "merchant_lock": card.merchant_lock,
        "details": None,
        "created_at": format_timestamp(card.created_at),
        "updated_at": format_timestamp(card.updated_at),
        "meta_data": card.meta_data,
    }
    if card.details is not None:
        view["details"] = {
            "number": masked(None, card.details.last4),
            "last4": card.details.last4,
            "brand": card.details.brand,
            "exp_month": card.details.exp_month,
            "exp_year": card.details.exp_year,
        }
    if balance is not None:
        view["balance"] = {
            "balance": balance.balance,
            "held": balance.inflight_debit_balance,
            "available": balance.balance - balance.inflight_debit_balance,
        }
    return view


def authorization_view(auth: Authorization) -> dict[str, Any]:
    return {
        "auth_id": auth.auth_id,
        "card_id": auth.card_id,
        "status": auth.status,
        "approved": auth.status != "DECLINED",
        "amount": auth.amount,
        "currency": auth.currency,
        "merchant": {
            "id": auth.merchant_id,
            "name": auth.merchant_name,
            "category": auth.merchant_category,
        },
        "decline_reason": auth.decline_reason,
        "decline_message": auth.decline_message or None,
        "hold_transaction_id": auth.hold_transaction_id,
        "captured_amount": auth.captured_amount,
        "released_amount": auth.released_amount,
        "pending_amount": (
            auth.amount - auth.captured_amount - auth.released_amount
            if auth.status == "PENDING"
            else 0
        ),
        "expires_at": format_timestamp(auth.expires_at) if auth.expires_at else None,
        "created_at": format_timestamp(auth.created_at),
        "updated_at": format_timestamp(auth.updated_at),
        "meta_data": auth.meta_data,
    }
