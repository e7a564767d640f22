"""Balance monitors (Blnk's ``/balance-monitors``): storage, and the check run in every posting.

``check_monitors`` is registered on the posting engine's ``after_apply_watched`` hooks: inside
each batch transaction that changed a watched balance it loads the monitors of the balances that
changed and emits ``balance.monitor`` for each whose condition went from false to true, so the
event commits with the posting that caused it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.clock import format_timestamp
from tally.core.errors import BadRequest, MonitorNotFound
from tally.core.events.monitors import Condition, fires, holds, number_view
from tally.core.ids import new_id
from tally.core.ledger.balances import BalanceState

from . import tables as t
from .outbox import emit
from .rows import STATE_COLUMNS, state_from_row
from .tables_events import balance_monitors as monitors

EVENT = "balance.monitor"


def condition_of(row: Any) -> Condition:
    return Condition(
        row.field, row.operator, Decimal(row.value), int(row.precision), int(row.precise_value)
    )


def monitor_view(row: Any) -> dict[str, Any]:
    return {
        "monitor_id": row.monitor_id,
        "balance_id": row.balance_id,
        "description": row.description,
        "call_back_url": row.call_back_url,
        "condition": {
            "field": row.field,
            "operator": row.operator,
            "value": number_view(Decimal(row.value)),
            "precision": int(row.precision),
            "precise_value": int(row.precise_value),
        },
        "meta_data": dict(row.meta_data or {}),
        "created_at": format_timestamp(row.created_at),
        "updated_at": format_timestamp(row.updated_at),
    }


def state_view(state: BalanceState) -> dict[str, Any]:
    return {
        "balance_id": state.balance_id,
        "currency": state.currency,
        "balance": state.balance,
        "credit_balance": state.credit_balance,
        "debit_balance": state.debit_balance,
        "inflight_balance": state.inflight_balance,
        "inflight_credit_balance": state.inflight_credit_balance,
        "inflight_debit_balance": state.inflight_debit_balance,
        "available_balance": state.available,
        "version": state.version,
    }


def _payload(row: Any, state: BalanceState, now: datetime) -> dict[str, Any]:
    return {
        **monitor_view(row),
        "triggered_at": format_timestamp(now),
        "snapshot": state_view(state),
    }


async def _current_state(conn: AsyncConnection, balance_id: str) -> BalanceState:
    row = (
        await conn.execute(sa.select(*STATE_COLUMNS).where(t.balances.c.balance_id == balance_id))
    ).first()
    if row is None:
        raise BadRequest(
            f"balance_id: no balance {balance_id} exists", details={"balance_id": balance_id}
        )
    return state_from_row(row)


async def create_monitor(
    conn: AsyncConnection,
    *,
    balance_id: str,
    condition: Condition,
    description: str,
    call_back_url: str,
    meta_data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Store the monitor; if its condition already holds it fires now (it just became true)."""
    state = await _current_state(conn, balance_id)
    monitor_id = new_id("mon")
    await conn.execute(
        monitors.insert().values(
            monitor_id=monitor_id,
            balance_id=balance_id,
            description=description,
            call_back_url=call_back_url,
            meta_data=meta_data,
            created_at=now,
            updated_at=now,
            **_condition_columns(condition),
        )
    )
    row = await _get_row(conn, monitor_id)
    if holds(condition, state):
        await emit(conn, EVENT, _payload(row, state, now), now=now, subject_id=monitor_id)
    return monitor_view(row)


def _condition_columns(condition: Condition) -> dict[str, Any]:
    return {
        "field": condition.field,
        "operator": condition.operator,
        "value": str(condition.value),
        "precision": condition.precision,
        "precise_value": condition.precise_value,
    }


async def _get_row(conn: AsyncConnection, monitor_id: str) -> Any:
    row = (
        await conn.execute(sa.select(monitors).where(monitors.c.monitor_id == monitor_id))
    ).first()
    if row is None:
        raise MonitorNotFound(
            f"balance monitor {monitor_id} not found", details={"monitor_id": monitor_id}
        )
    return row


async def get_monitor(conn: AsyncConnection, monitor_id: str) -> dict[str, Any]:
    return monitor_view(await _get_row(conn, monitor_id))


async def list_monitors(
    conn: AsyncConnection, *, balance_id: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    query = sa.select(monitors)
    if balance_id is not None:
        query = query.where(monitors.c.balance_id == balance_id)
    rows = await conn.execute(query.order_by(monitors.c.id.desc()).limit(limit).offset(offset))
    return [monitor_view(row) for row in rows]


async def update_monitor(
    conn: AsyncConnection,
    monitor_id: str,
    *,
    balance_id: str | None,
    condition: Condition | None,
    description: str | None,
    call_back_url: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Change a monitor; a condition that holds after the change (and did not before) fires."""
    old = await _get_row(conn, monitor_id)
    values: dict[str, Any] = {"updated_at": now}
    if balance_id is not None:
        await _current_state(conn, balance_id)
        values["balance_id"] = balance_id
    if condition is not None:
        values.update(_condition_columns(condition))
    if description is not None:
        values["description"] = description
    if call_back_url is not None:
        values["call_back_url"] = call_back_url
    await conn.execute(
        monitors.update().where(monitors.c.monitor_id == monitor_id).values(**values)
    )
    row = await _get_row(conn, monitor_id)
    state = await _current_state(conn, row.balance_id)
    before = await _current_state(conn, old.balance_id)
    if holds(condition_of(row), state) and not holds(condition_of(old), before):
        await emit(conn, EVENT, _payload(row, state, now), now=now, subject_id=monitor_id)
    return monitor_view(row)


async def delete_monitor(conn: AsyncConnection, monitor_id: str) -> None:
    await _get_row(conn, monitor_id)
    await conn.execute(monitors.delete().where(monitors.c.monitor_id == monitor_id))


async def check_monitors(
    conn: AsyncConnection,
    before: dict[str, BalanceState],
    after: dict[str, BalanceState],
    now: datetime,
) -> None:
    """The engine hook: fire every monitor whose condition this batch made true.

    Balances the engine read as unwatched (``BalanceState.monitored``) are skipped, so a batch
    that touches no watched balance costs no query here."""
    watched = sorted(k for k, v in after.items() if v.monitored)
    if not watched:
        return
    rows = await conn.execute(
        sa.select(monitors).where(monitors.c.balance_id.in_(watched)).order_by(monitors.c.id)
    )
    for row in rows:
        old, new = before.get(row.balance_id), after[row.balance_id]
        if old is not None and fires(condition_of(row), old, new):
            await emit(conn, EVENT, _payload(row, new, now), now=now, subject_id=row.monitor_id)
