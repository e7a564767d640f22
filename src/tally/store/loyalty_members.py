"""Customers, loyalty accounts (one ledger balance each), their figures, and manual adjustments."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ids import new_id
from tally.core.ledger.records import BalanceRecord
from tally.core.loyalty import errors as le
from tally.core.loyalty.records import Account, Customer, LotState, PtxType
from tally.core.loyalty.views import account_view, customer_view
from tally.services import Services

from . import ledger_repo
from . import loyalty_repo as repo
from . import tables_loyalty as lt
from .loyalty_programs import _metadata, _text
from .outbox import emit

# ---- customers --------------------------------------------------------------------------------


async def create_customer(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    now = services.clock.now()
    name = body.get("name") or ""
    email = body.get("email") or ""
    if not isinstance(name, str) or not isinstance(email, str):
        raise le.LoyaltyInvalid("name and email must be text")
    customer = Customer(new_id("cust"), name, email, now, _metadata(body.get("metadata")))
    async with services.db.write() as conn:
        await conn.execute(
            lt.loyalty_customers.insert().values(
                customer_id=customer.customer_id,
                name=name,
                email=email,
                meta_data=customer.metadata,
                created_at=now,
            )
        )
        view = customer_view(customer, [])
        await emit(conn, "customer.created", view, now=now, subject_id=customer.customer_id)
    return view


async def get_customer(services: Services, customer_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        customer = await repo.get_customer(conn, customer_id)
        accounts = await repo.customer_accounts(conn, customer_id)
    return customer_view(customer, [a.account_id for a in accounts])


async def list_customers(
    services: Services, *, limit: int, starting_after: str | None
) -> dict[str, Any]:
    async with services.db.read() as conn:
        rows, more = await repo.page(
            conn,
            sa.select(lt.loyalty_customers),
            lt.loyalty_customers,
            "customer_id",
            limit=limit,
            starting_after=starting_after,
        )
        items = []
        for row in rows:
            accounts = await repo.customer_accounts(conn, row.customer_id)
            items.append(
                customer_view(repo.customer_from_row(row), [a.account_id for a in accounts])
            )
    return repo.listing(items, more, "/customers")


# ---- accounts ---------------------------------------------------------------------------------


async def _check_link(conn: AsyncConnection, program_id: str, customer_id: str) -> None:
    await repo.get_customer(conn, customer_id, body=True)
    taken = (
        await conn.execute(
            sa.select(lt.loyalty_accounts.c.account_id)
            .where(lt.loyalty_accounts.c.program_id == program_id)
            .where(lt.loyalty_accounts.c.customer_id == customer_id)
        )
    ).first()
    if taken is not None:
        raise le.AccountExists(
            f"customer {customer_id} already has account {taken.account_id} in program "
            f"{program_id}",
            details={"account": taken.account_id},
        )


async def create_account(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    program_id = _text(body.get("program"), "program")
    customer_id = body.get("customer") or None
    now = services.clock.now()
    async with services.db.write() as conn:
        program = await repo.get_program(conn, program_id, body=True)
        if customer_id is not None:
            await _check_link(conn, program_id, str(customer_id))
        account = Account(
            new_id("loy"),
            program_id,
            new_id("bln"),
            now,
            customer_id=customer_id,
            metadata=_metadata(body.get("metadata")),
        )
        await ledger_repo.insert_balance(
            conn,
            BalanceRecord(
                balance_id=account.balance_id,
                ledger_id=program.ledger_id,
                currency=program.point_unit,
                created_at=now,
                meta_data={"loyalty_account": account.account_id, "loyalty_program": program_id},
            ),
            now=now,
        )
        await conn.execute(
            lt.loyalty_accounts.insert().values(
                account_id=account.account_id,
                program_id=program_id,
                customer_id=customer_id,
                balance_id=account.balance_id,
                deficit=0,
                meta_data=account.metadata,
                created_at=now,
            )
        )
        view = account_view(account, await figures(conn, account))
        await emit(conn, "loyalty.account.created", view, now=now, subject_id=account.account_id)
    return view


async def link_customer(services: Services, account_id: str, customer_id: str) -> dict[str, Any]:
    now = services.clock.now()
    async with services.db.write() as conn:
        account = await repo.get_account(conn, account_id)
        if account.customer_id == customer_id:
            return account_view(account, await figures(conn, account))
        if account.customer_id is not None:
            raise le.CustomerAlreadyLinked(
                f"account {account_id} is linked to customer {account.customer_id}"
            )
        await _check_link(conn, account.program_id, customer_id)
        await conn.execute(
            lt.loyalty_accounts.update()
            .where(lt.loyalty_accounts.c.account_id == account_id)
            .values(customer_id=customer_id)
        )
        account.customer_id = customer_id
        view = account_view(account, await figures(conn, account))
        await emit(conn, "loyalty.account.updated", view, now=now, subject_id=account_id)
    return view


async def get_account(services: Services, account_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        account = await repo.get_account(conn, account_id)
        return account_view(account, await figures(conn, account))


async def list_accounts(
    services: Services,
    *,
    program: str | None,
    customer: str | None,
    limit: int,
    starting_after: str | None,
) -> dict[str, Any]:
    query = sa.select(lt.loyalty_accounts)
    if program:
        query = query.where(lt.loyalty_accounts.c.program_id == program)
    if customer:
        query = query.where(lt.loyalty_accounts.c.customer_id == customer)
    async with services.db.read() as conn:
        rows, more = await repo.page(
            conn,
            query,
            lt.loyalty_accounts,
            "account_id",
            limit=limit,
            starting_after=starting_after,
        )
        items = []
        for row in rows:
            account = repo.account_from_row(row)
            items.append(account_view(account, await figures(conn, account)))
    return repo.listing(items, more, "/loyalty/accounts")


async def figures(conn: AsyncConnection, account: Account) -> dict[str, Any]:
    """Balance, available, held, pending and lifetime totals of an account."""
    balance = await ledger_repo.get_balance(conn, account.balance_id)
    pending = (
        await conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(lt.points_lots.c.remaining), 0))
            .where(lt.points_lots.c.account_id == account.account_id)
            .where(lt.points_lots.c.state == LotState.PENDING)
        )
    ).scalar_one()
    sums = {t: 0 for t in PtxType.ALL}
    rows = await conn.execute(
        sa.select(lt.points_transactions.c.type, sa.func.sum(lt.points_transactions.c.points))
        .where(lt.points_transactions.c.account_id == account.account_id)
        .group_by(lt.points_transactions.c.type)
    )
    for kind, total in rows:
        sums[kind] = int(total)
    redeemed = -sums["redeem"] - sums["release"] - sums["restore"]
    return {
        "balance": balance.balance,
        "available": balance.balance - balance.inflight_debit_balance,
        "held": balance.inflight_debit_balance,
        "pending": int(pending),
        "deficit": account.deficit,
        "lifetime_earned": sums["earn"],
        "lifetime_redeemed": redeemed,
        "lifetime_clawed_back": -sums["clawback"],
        "lifetime": {
            "earned": sums["earn"],
            "redeemed": -sums["redeem"],
            "released": sums["release"],
            "restored": sums["restore"],
            "clawed_back": -sums["clawback"],
            "expired": -sums["expire"],
            "adjusted": sums["adjust"],
        },
    }
