"""Ledgers, balances, identities and metadata (Blnk-compatible paths and shapes)."""

from __future__ import annotations

from typing import Any

from litestar import delete, get, post, put
from litestar.datastructures import State

from tally.core.clock import format_timestamp, parse_timestamp
from tally.core.errors import InvalidTimestamp, ValidationFailed
from tally.core.ids import GENERAL_LEDGER_ID, has_prefix, new_id
from tally.core.ledger.records import BalanceRecord, LedgerRecord
from tally.core.ledger.transfers import INDICATOR_PATTERN
from tally.core.ledger.views import balance_view, ledger_view
from tally.services import Services
from tally.store import ledger_repo as repo

from ..deps import require, services
from ..schemas import (
    BalanceIdentityIn,
    BalanceIn,
    BalanceOverdraftIn,
    IdentityIn,
    LedgerIn,
    LedgerUpdate,
    MetadataIn,
)

# ---- ledgers --------------------------------------------------------------------------------


@post("/ledgers", status_code=201, tags=["ledgers"], summary="Create a ledger")
async def create_ledger(data: LedgerIn, state: State) -> dict[str, Any]:
    svc = services(state)
    name = require(data.name, "name")
    now = svc.clock.now()
    ledger = LedgerRecord(new_id("ldg"), name, now, dict(data.meta_data or {}))
    async with svc.db.write() as conn:
        await repo.insert_ledger(conn, ledger, now=now)
    return ledger_view(ledger)


@get("/ledgers/{ledger_id:str}", tags=["ledgers"], summary="Get a ledger")
async def get_ledger(ledger_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return ledger_view(await repo.get_ledger(conn, ledger_id))


@put("/ledgers/{ledger_id:str}", tags=["ledgers"], summary="Rename a ledger")
async def update_ledger(ledger_id: str, data: LedgerUpdate, state: State) -> dict[str, Any]:
    svc = services(state)
    name = require(data.name, "name")
    async with svc.db.write() as conn:
        return ledger_view(await repo.rename_ledger(conn, ledger_id, name, now=svc.clock.now()))


# ---- balances -------------------------------------------------------------------------------


@post("/balances", status_code=201, tags=["balances"], summary="Create a balance")
async def create_balance(data: BalanceIn, state: State) -> dict[str, Any]:
    svc = services(state)
    ledger_id = require(data.ledger_id, "ledger_id")
    currency = require(data.currency, "currency")
    indicator = data.indicator or None
    if indicator is not None:
        if ledger_id != GENERAL_LEDGER_ID:
            raise ValidationFailed(
                "indicator: an indicator balance can only be created in the general ledger "
                f"(ledger_id {GENERAL_LEDGER_ID!r})."
            )
        if not INDICATOR_PATTERN.match(indicator):
            raise ValidationFailed("indicator: must start with '@' and contain no spaces.")
    allow = data.allow_overdraft if data.allow_overdraft is not None else indicator is not None
    now = svc.clock.now()
    record = BalanceRecord(
        balance_id=new_id("bln"),
        ledger_id=ledger_id,
        currency=currency,
        created_at=now,
        identity_id=data.identity_id or None,
        indicator=indicator,
        allow_overdraft=allow,
        meta_data=dict(data.meta_data or {}),
    )
    async with svc.db.write() as conn:
        await repo.insert_balance(conn, record, now=now)
    return balance_view(record)


@get("/balances/{balance_id:str}", tags=["balances"], summary="Get a balance")
async def get_balance(balance_id: str, state: State) -> dict[str, Any]:
    return await balance_by_id(services(state), balance_id)


async def balance_by_id(svc: Services, balance_id: str) -> dict[str, Any]:
    """``GET /balances/{id}``' answer (shared with ``api.fastpath``, which answers it too)."""
    async with svc.db.read() as conn:
        return balance_view(await repo.get_balance(conn, balance_id))


@get(
    "/balances/indicator/{indicator:str}/currency/{currency:str}",
    tags=["balances"],
    summary="Get an indicator balance by name and currency",
)
async def get_balance_by_indicator(indicator: str, currency: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return balance_view(await repo.get_balance_by_indicator(conn, indicator, currency))


@put(
    "/balances/{balance_id:str}/identity",
    tags=["balances"],
    summary="Link a balance to an identity",
)
async def set_balance_identity(
    balance_id: str, data: BalanceIdentityIn, state: State
) -> dict[str, Any]:
    svc = services(state)
    identity_id = require(data.identity_id, "identity_id")
    async with svc.db.write() as conn:
        await repo.set_balance_identity(conn, balance_id, identity_id, now=svc.clock.now())
    return {"message": "Balance identity updated successfully"}


@put(
    "/balances/{balance_id:str}/overdraft",
    tags=["balances"],
    summary="Allow or refuse overdraft on a balance (indicators allow it by default)",
)
async def set_balance_overdraft(
    balance_id: str, data: BalanceOverdraftIn, state: State
) -> dict[str, Any]:
    svc = services(state)
    async with svc.db.write() as conn:
        balance = await repo.set_balance_overdraft(
            conn, balance_id, data.allow_overdraft, now=svc.clock.now()
        )
    return balance_view(balance)


@get(
    "/balances/{balance_id:str}/at",
    tags=["balances"],
    summary="A balance as it stood at a moment (by effective date)",
)
async def balance_at(
    balance_id: str,
    state: State,
    timestamp: str | None = None,
    from_source: str | None = None,
) -> dict[str, Any]:
    svc = services(state)
    try:
        when = parse_timestamp(timestamp) if timestamp else svc.clock.now()
    except ValueError:
        raise InvalidTimestamp(
            f"invalid timestamp format {timestamp!r}: use RFC 3339, e.g. 2026-01-31T12:00:00Z"
        ) from None
    async with svc.db.read() as conn:
        balance, credits, debits = await repo.balance_at(conn, balance_id, when)
    return {
        "balance": {
            "balance": credits - debits,
            "credit_balance": credits,
            "debit_balance": debits,
            "currency": balance.currency,
            "balance_id": balance.balance_id,
        },
        "timestamp": format_timestamp(when),
        "from_source": True,
    }


# ---- identities -----------------------------------------------------------------------------

_IDENTITY_TEXT = repo.IDENTITY_FIELDS


def _identity_values(data: IdentityIn, *, partial: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _IDENTITY_TEXT:
        value = getattr(data, name)
        if value is not None and (value != "" or not partial):
            values[name] = value
        elif not partial:
            values[name] = ""
    if data.dob:
        try:
            values["dob"] = parse_timestamp(data.dob)
        except ValueError:
            raise ValidationFailed(
                f"dob: {data.dob!r} is not an RFC 3339 date-time.", code="IDT_VALIDATION_ERROR"
            ) from None
    if data.meta_data is not None:
        values["meta_data"] = dict(data.meta_data)
    return values


@post("/identities", status_code=201, tags=["identities"], summary="Create an identity")
async def create_identity(data: IdentityIn, state: State) -> dict[str, Any]:
    svc = services(state)
    identity_id = data.identity_id or new_id("idt")
    if not has_prefix(identity_id, "idt"):
        raise ValidationFailed("identity_id must look like idt_<uuid>", code="IDT_VALIDATION_ERROR")
    now = svc.clock.now()
    values = _identity_values(data, partial=False)
    values.setdefault("meta_data", {})
    values.update(identity_id=identity_id, created_at=now)
    async with svc.db.write() as conn:
        return await repo.insert_identity(conn, values, now=now)


@get("/identities/{identity_id:str}", tags=["identities"], summary="Get an identity")
async def get_identity(identity_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return await repo.get_identity(conn, identity_id)


@put("/identities/{identity_id:str}", tags=["identities"], summary="Update an identity")
async def update_identity(identity_id: str, data: IdentityIn, state: State) -> dict[str, Any]:
    svc = services(state)
    values = _identity_values(data, partial=True)
    async with svc.db.write() as conn:
        identity = await repo.update_identity(conn, identity_id, values, now=svc.clock.now())
    return {"message": "Identity updated successfully", "identity": identity}


@delete(
    "/identities/{identity_id:str}",
    status_code=200,
    tags=["identities"],
    summary="Delete an identity",
)
async def delete_identity(identity_id: str, state: State) -> dict[str, Any]:
    svc = services(state)
    async with svc.db.write() as conn:
        await repo.delete_identity(conn, identity_id, now=svc.clock.now())
    return {"message": "Identity deleted successfully"}


# ---- metadata -------------------------------------------------------------------------------


@post(
    "/{entity_id:str}/metadata",
    status_code=200,
    tags=["metadata"],
    summary="Merge keys into the meta_data of a ledger, balance, transaction or identity",
)
async def update_metadata(entity_id: str, data: MetadataIn, state: State) -> dict[str, Any]:
    svc = services(state)
    if data.meta_data is None:
        raise ValidationFailed("meta_data: cannot be blank.")
    async with svc.db.write() as conn:
        merged = await repo.merge_metadata(conn, entity_id, data.meta_data, now=svc.clock.now())
    return {"meta_data": merged}


ROUTES = [
    create_ledger,
    get_ledger,
    update_ledger,
    create_balance,
    get_balance,
    get_balance_by_indicator,
    set_balance_identity,
    set_balance_overdraft,
    balance_at,
    create_identity,
    get_identity,
    update_identity,
    delete_identity,
    update_metadata,
]
