"""Converting between database rows and core records."""

from __future__ import annotations

from typing import Any

from tally.core.ledger.balances import BalanceState
from tally.core.ledger.records import BalanceRecord, LedgerRecord, TransactionRecord

from . import tables as t


def ledger_from_row(row: Any) -> LedgerRecord:
    return LedgerRecord(row.ledger_id, row.name, row.created_at, dict(row.meta_data or {}))


def balance_from_row(row: Any) -> BalanceRecord:
    return BalanceRecord(
        balance_id=row.balance_id,
        ledger_id=row.ledger_id,
        currency=row.currency,
        created_at=row.created_at,
        identity_id=row.identity_id,
        indicator=row.indicator,
        allow_overdraft=row.allow_overdraft,
        credit_balance=row.credit_balance,
        debit_balance=row.debit_balance,
        inflight_credit_balance=row.inflight_credit_balance,
        inflight_debit_balance=row.inflight_debit_balance,
        version=row.version,
        meta_data=dict(row.meta_data or {}),
    )


def state_from_row(row: Any) -> BalanceState:
    return BalanceState(
        balance_id=row.balance_id,
        currency=row.currency,
        allow_overdraft=row.allow_overdraft,
        indicator=row.indicator,
        credit_balance=row.credit_balance,
        debit_balance=row.debit_balance,
        inflight_credit_balance=row.inflight_credit_balance,
        inflight_debit_balance=row.inflight_debit_balance,
        version=row.version,
    )


STATE_COLUMNS = [
    t.balances.c.balance_id,
    t.balances.c.currency,
    t.balances.c.allow_overdraft,
    t.balances.c.indicator,
    t.balances.c.credit_balance,
    t.balances.c.debit_balance,
    t.balances.c.inflight_credit_balance,
    t.balances.c.inflight_debit_balance,
    t.balances.c.version,
]


def transaction_from_row(row: Any) -> TransactionRecord:
    return TransactionRecord(
        transaction_id=row.transaction_id,
        parent_transaction=row.parent_transaction,
        source=row.source,
        destination=row.destination,
        reference=row.reference,
        precise_amount=row.precise_amount,
        precision=row.precision,
        currency=row.currency,
        description=row.description,
        status=row.status,
        kind=row.kind,
        hash=row.hash,
        allow_overdraft=row.allow_overdraft,
        overdraft_limit=row.overdraft_limit,
        inflight=row.inflight,
        atomic=row.atomic,
        created_at=row.created_at,
        effective_date=row.effective_date,
        scheduled_for=row.scheduled_for,
        inflight_expiry_date=row.inflight_expiry_date,
        meta_data=dict(row.meta_data or {}),
    )


def transaction_to_row(r: TransactionRecord) -> dict[str, Any]:
    return {
        "transaction_id": r.transaction_id,
        "parent_transaction": r.parent_transaction,
        "source": r.source,
        "destination": r.destination,
        "reference": r.reference,
        "precise_amount": r.precise_amount,
        "precision": r.precision,
        "currency": r.currency,
        "description": r.description,
        "status": r.status,
        "kind": r.kind,
        "hash": r.hash,
        "allow_overdraft": r.allow_overdraft,
        "overdraft_limit": r.overdraft_limit,
        "inflight": r.inflight,
        "atomic": r.atomic,
        "created_at": r.created_at,
        "effective_date": r.effective_date,
        "scheduled_for": r.scheduled_for,
        "inflight_expiry_date": r.inflight_expiry_date,
        "meta_data": r.meta_data,
    }
