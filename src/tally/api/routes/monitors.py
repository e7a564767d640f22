"""Balance monitors, Blnk-compatible: ``/balance-monitors``.

``condition``: ``field`` (``balance``, ``credit_balance``, ``debit_balance``,
``inflight_balance``, ``inflight_credit_balance``, ``inflight_debit_balance``,
``available_balance``), ``operator`` (``> >= < <= == !=``; ``=`` means ``==``), ``value`` in major
units and ``precision`` (default 1). A monitor fires a ``balance.monitor`` event once each time
its condition becomes true (see ``tally.core.events.monitors``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import delete, get, post, put
from litestar.datastructures import State

from tally.core.events.monitors import Condition, parse_condition
from tally.store import monitors_repo

from ..deps import require, services
from .webhooks import check_page

TAGS = ["balance monitors"]


class ConditionIn(msgspec.Struct, kw_only=True):
    field: str | None = None
    operator: str | None = None
    value: int | float | str | None = None
    precision: int | float | None = None


class MonitorIn(msgspec.Struct, kw_only=True):
    balance_id: str | None = None
    description: str | None = None
    condition: ConditionIn | None = None
    call_back_url: str | None = None
    meta_data: dict[str, Any] | None = None


def _condition(data: ConditionIn | None) -> Condition:
    if data is None:
        return parse_condition(None, None, None, None)
    return parse_condition(data.field, data.operator, data.value, data.precision)


@post("/balance-monitors", status_code=201, tags=TAGS, summary="Create a balance monitor")
async def create_monitor(data: MonitorIn, state: State) -> dict[str, Any]:
    svc = services(state)
    balance_id = require(data.balance_id, "balance_id")
    condition = _condition(data.condition)
    async with svc.db.write() as conn:
        return await monitors_repo.create_monitor(
            conn,
            balance_id=balance_id,
            condition=condition,
            description=data.description or "",
            call_back_url=data.call_back_url or "",
            meta_data=dict(data.meta_data or {}),
            now=svc.clock.now(),
        )


@get("/balance-monitors", tags=TAGS, summary="List balance monitors")
async def list_monitors(state: State, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    check_page(limit, offset)
    async with services(state).db.read() as conn:
        return await monitors_repo.list_monitors(conn, balance_id=None, limit=limit, offset=offset)


@get(
    "/balance-monitors/balances/{balance_id:str}",
    tags=TAGS,
    summary="List the monitors of one balance",
)
async def list_balance_monitors(
    balance_id: str, state: State, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    check_page(limit, offset)
    async with services(state).db.read() as conn:
        return await monitors_repo.list_monitors(
            conn, balance_id=balance_id, limit=limit, offset=offset
        )


@get("/balance-monitors/{monitor_id:str}", tags=TAGS, summary="Get a balance monitor")
async def get_monitor(monitor_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return await monitors_repo.get_monitor(conn, monitor_id)


@put("/balance-monitors/{monitor_id:str}", tags=TAGS, summary="Update a balance monitor")
async def update_monitor(monitor_id: str, data: MonitorIn, state: State) -> dict[str, Any]:
    svc = services(state)
    condition = _condition(data.condition) if data.condition is not None else None
    async with svc.db.write() as conn:
        await monitors_repo.update_monitor(
            conn,
            monitor_id,
            balance_id=data.balance_id or None,
            condition=condition,
            description=data.description,
            call_back_url=data.call_back_url,
            now=svc.clock.now(),
        )
    return {"message": "BalanceMonitor updated successfully"}


@delete(
    "/balance-monitors/{monitor_id:str}",
    status_code=200,
    tags=TAGS,
    summary="Delete a balance monitor",
)
async def delete_monitor(monitor_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.write() as conn:
        await monitors_repo.delete_monitor(conn, monitor_id)
    return {"message": "BalanceMonitor deleted successfully"}


ROUTES = [
    create_monitor,
    list_monitors,
    list_balance_monitors,
    get_monitor,
    update_monitor,
    delete_monitor,
]
