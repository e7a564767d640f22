"""Programs (each one a ledger with issuing, redemption and pending balances) and rewards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ids import new_id
from tally.core.ledger.records import BalanceRecord, LedgerRecord
from tally.core.loyalty.errors import LoyaltyInvalid
from tally.core.loyalty.program import parse_config, parse_point_unit
from tally.core.loyalty.records import Program, Reward
from tally.core.loyalty.views import program_view, reward_view
from tally.services import Services

from . import ledger_repo
from . import loyalty_repo as repo
from . import tables_loyalty as lt
from .outbox import emit

SYSTEM_BALANCES = ("issuing", "redemption", "pending")


def _text(value: object, field: str, *, limit: int = 255) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LoyaltyInvalid(f"{field}: cannot be blank", details={"field": field})
    if len(value) > limit:
        raise LoyaltyInvalid(f"{field} is longer than {limit} characters")
    return value.strip()


def _metadata(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LoyaltyInvalid("metadata must be an object")
    return dict(value)


async def _system_balance(
    conn: AsyncConnection, ledger_id: str, unit: str, role: str, program_id: str, now: datetime
) -> str:
    record = BalanceRecord(
        balance_id=new_id("bln"),
        ledger_id=ledger_id,
        currency=unit,
        created_at=now,
        allow_overdraft=role == "issuing",
        meta_data={"loyalty_program": program_id, "loyalty_role": role},
    )
    await ledger_repo.insert_balance(conn, record, now=now)
    return record.balance_id


async def create_program(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    name = _text(body.get("name"), "name")
    unit = parse_point_unit(body.get("point_unit", "PTS"))
    config = parse_config(body)
    metadata = _metadata(body.get("metadata"))
    now = services.clock.now()
    program_id = new_id("prog")
    ledger = LedgerRecord(new_id("ldg"), f"Loyalty: {name}", now, {"loyalty_program": program_id})
    async with services.db.write() as conn:
        await ledger_repo.insert_ledger(conn, ledger, now=now)
        ids = [
            await _system_balance(conn, ledger.ledger_id, unit, role, program_id, now)
            for role in SYSTEM_BALANCES
        ]
        program = Program(
            program_id,
            name,
            ledger.ledger_id,
            unit,
            issuing_balance_id=ids[0],
            redemption_balance_id=ids[1],
            pending_balance_id=ids[2],
            config=config,
            created_at=now,
            updated_at=now,
            metadata=metadata,
        )
        await conn.execute(lt.loyalty_programs.insert().values(**repo.program_row(program)))
        view = program_view(program)
        await emit(conn, "loyalty.program.created", view, now=now, subject_id=program_id)
    return view


async def update_program(
    services: Services, program_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    now = services.clock.now()
    async with services.db.write() as conn:
        program = await repo.get_program(conn, program_id)
        if "name" in body:
            program.name = _text(body.get("name"), "name")
        if "metadata" in body:
            program.metadata = {**program.metadata, **_metadata(body.get("metadata"))}
        program.config = parse_config(body, program.config)
        program.updated_at = now
        row = repo.program_row(program)
        await conn.execute(
            lt.loyalty_programs.update()
            .where(lt.loyalty_programs.c.program_id == program_id)
            .values(
                name=row["name"], config=row["config"], meta_data=row["meta_data"], updated_at=now
            )
        )
        view = program_view(program)
        await emit(conn, "loyalty.program.updated", view, now=now, subject_id=program_id)
    return view


async def get_program(services: Services, program_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        return program_view(await repo.get_program(conn, program_id))


async def list_programs(services: Services) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(lt.loyalty_programs).order_by(lt.loyalty_programs.c.id))
        return [program_view(repo.program_from_row(r)) for r in rows]


# ---- rewards ----------------------------------------------------------------------------------


def _positive(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LoyaltyInvalid(
            f"{field} must be a whole number greater than zero; got {value!r}",
            details={"field": field},
        )
    return value


def currency_code(value: object, field: str = "currency") -> str:
    if not isinstance(value, str) or not value.isalpha() or not 3 <= len(value) <= 8:
        raise LoyaltyInvalid(
            f"{field} must be a currency code such as 'eur'; got {value!r}",
            details={"field": field},
        )
    return value.lower()


async def create_reward(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    program_id = _text(body.get("program"), "program")
    now = services.clock.now()
    discount = body.get("discount", body.get("discount_amount"))
    reward = Reward(
        reward_id=new_id("rwd"),
        program_id=program_id,
        name=_text(body.get("name"), "name"),
        points_cost=_positive(body.get("points_cost"), "points_cost"),
        discount_amount=_positive(discount, "discount"),
        currency=currency_code(body.get("currency")),
        created_at=now,
        active=bool(body.get("active", True)),
        metadata=_metadata(body.get("metadata")),
    )
    async with services.db.write() as conn:
        await repo.get_program(conn, program_id, body=True)
        await conn.execute(
            lt.loyalty_rewards.insert().values(
                reward_id=reward.reward_id,
                program_id=program_id,
                name=reward.name,
                points_cost=reward.points_cost,
                discount_amount=reward.discount_amount,
                currency=reward.currency,
                active=reward.active,
                meta_data=reward.metadata,
                created_at=now,
            )
        )
        view = reward_view(reward)
        await emit(conn, "loyalty.reward.created", view, now=now, subject_id=reward.reward_id)
    return view


async def get_reward(services: Services, reward_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        return reward_view(await repo.get_reward(conn, reward_id))


async def list_rewards(services: Services, program_id: str | None) -> list[dict[str, Any]]:
    query = sa.select(lt.loyalty_rewards).order_by(lt.loyalty_rewards.c.id)
    if program_id:
        query = query.where(lt.loyalty_rewards.c.program_id == program_id)
    async with services.db.read() as conn:
        return [reward_view(repo.reward_from_row(r)) for r in await conn.execute(query)]
