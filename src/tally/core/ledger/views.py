"""The wire shape of ledger objects (Blnk's field names), as plain dicts.

Used by the HTTP API and as event payloads, so a webhook carries exactly what a GET returns.
"""

from __future__ import annotations

from typing import Any

from tally.core.clock import format_timestamp

from .amounts import major_number, major_string
from .records import BalanceRecord, LedgerRecord, TransactionRecord


def ledger_view(ledger: LedgerRecord) -> dict[str, Any]:
    return {
        "ledger_id": ledger.ledger_id,
        "name": ledger.name,
        "created_at": format_timestamp(ledger.created_at),
        "meta_data": ledger.meta_data,
    }


def balance_view(b: BalanceRecord) -> dict[str, Any]:
    return {
        "balance": b.balance,
        "version": b.version,
        "inflight_balance": b.inflight_balance,
        "credit_balance": b.credit_balance,
        "inflight_credit_balance": b.inflight_credit_balance,
        "debit_balance": b.debit_balance,
        "inflight_debit_balance": b.inflight_debit_balance,
        "available_balance": b.balance - b.inflight_debit_balance,
        "precision": 0,
        "ledger_id": b.ledger_id,
        "identity_id": b.identity_id or "",
        "balance_id": b.balance_id,
        "indicator": b.indicator or "",
        "currency": b.currency,
        "allow_overdraft": b.allow_overdraft,
        "created_at": format_timestamp(b.created_at),
        "inflight_expires_at": format_timestamp(None),
        "track_fund_lineage": False,
        "allocation_strategy": "FIFO",
        "meta_data": b.meta_data,
    }


def transaction_view(t: TransactionRecord) -> dict[str, Any]:
    return {
        "transaction_id": t.transaction_id,
        "parent_transaction": t.parent_transaction or "",
        "amount": major_number(t.precise_amount, t.precision),
        "amount_string": major_string(t.precise_amount, t.precision),
        "precise_amount": t.precise_amount,
        "precision": t.precision,
        "reference": t.reference,
        "currency": t.currency,
        "description": t.description,
        "status": t.status,
        "kind": t.kind,
        "source": t.source,
        "destination": t.destination,
        "hash": t.hash,
        "allow_overdraft": t.allow_overdraft,
        "overdraft_limit": major_number(t.overdraft_limit, t.precision),
        "inflight": t.inflight,
        "atomic": t.atomic,
        "skip_queue": True,
        "created_at": format_timestamp(t.created_at),
        "effective_date": format_timestamp(t.effective_date),
        "scheduled_for": format_timestamp(t.scheduled_for),
        "inflight_expiry_date": format_timestamp(t.inflight_expiry_date),
        "inflight_commit_date": format_timestamp(None),
        "meta_data": t.meta_data,
    }
