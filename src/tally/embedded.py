"""Tally inside your own Python program: the same ledger and posting engine, without HTTP.

::

    import tally

    async with tally.Ledger.open("sqlite:///./shop.db") as ledger:
        wallet = await ledger.create_balance("USD")
        await ledger.transfer("@World", wallet.balance_id, 10_00, currency="USD",
                              precision=100, reference="top-up-1")
        hold = await ledger.transfer(wallet.balance_id, "@Shop", 4_00, currency="USD",
                                     precision=100, reference="order-7", inflight=True)
        await ledger.commit(hold.transaction_id, 3_00)   # capture 3.00 of the 4.00 held
        print((await ledger.balance(wallet.balance_id)).balance)   # 700

Every call goes through the posting engine the HTTP API uses, so concurrent calls from many tasks
are grouped into one database transaction each (group commit) and the ledger's rules hold: every
currency sums to zero, a reference is used once, an ordinary balance never goes below zero unless
the transfer allows it. Amounts are integers in minor units; ``precision`` (default 1) records how
many minor units make one major unit, for display. Errors are the ``tally.core.errors`` classes
(``InsufficientFunds``, ``DuplicateReference`` ...), each with a stable ``code``.

Several processes (or machines) may open the same PostgreSQL database at once; on SQLite, one
process writes at a time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from tally.core.clock import Clock, format_timestamp
from tally.core.errors import InvalidAmount, TallyError
from tally.core.ids import GENERAL_LEDGER_ID, new_id
from tally.core.ledger.amounts import major_string
from tally.core.ledger.records import BalanceRecord, LedgerRecord, TransactionRecord
from tally.core.ledger.transfers import TransferPlan, TransferRequest, plan_transfer
from tally.services import Services
from tally.settings import Settings
from tally.store import ledger_repo
from tally.store.engine import Commit, Post, PostingEngine, Preview, Refund, Void
from tally.store.verify import VerifyReport, verify_store

__all__ = ["Ledger", "Transfer"]


@dataclass(slots=True)
class Transfer:
    """One movement for :meth:`Ledger.transfer_many` (the fields of :meth:`Ledger.transfer`)."""

    source: str
    destination: str
    amount: int
    currency: str
    reference: str
    precision: int = 1
    description: str = ""
    meta_data: dict[str, Any] = field(default_factory=dict)
    inflight: bool = False
    allow_overdraft: bool = False
    overdraft_limit: int | None = None
    effective_date: datetime | None = None
    inflight_expiry_date: datetime | None = None


class Ledger:
    """An open ledger. Use ``async with Ledger.open(url) as ledger`` (or ``start``/``close``)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @classmethod
    def open(
        cls,
        url: str = "sqlite:///./tally.db",
        *,
        migrate: bool = True,
        workers: bool = False,
        max_batch: int | None = None,
        pool_size: int | None = None,
        clock: Clock | None = None,
        tune_gc: bool = False,
    ) -> Ledger:
        """A ledger on ``url`` (``sqlite:///path`` or ``postgresql://...``), not yet started.

        ``migrate`` applies the schema migrations on start; ``workers`` also runs the webhook
        relay and the scheduler (hold expiry, scheduled transactions) in this process.
        ``tune_gc`` applies :func:`tally.tuning.tune_gc` to this process on start (it changes the
        garbage collector's settings for the whole program, so it is yours to choose).
        """
        settings = Settings(database_url=url, gc_tuning=tune_gc).with_overrides(
            auto_migrate=migrate, run_workers=workers, max_batch=max_batch, pool_size=pool_size
        )
        return cls(Services.build(settings, clock=clock))

    async def start(self) -> None:
        await self.services.start()

    async def close(self) -> None:
        """Finish the postings already submitted, then release the database."""
        await self.services.stop()

    async def __aenter__(self) -> Ledger:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def engine(self) -> PostingEngine:
        return self.services.engine

    # ---- ledgers and balances -------------------------------------------------------------

    async def create_ledger(
        self, name: str, *, meta_data: dict[str, Any] | None = None
    ) -> LedgerRecord:
        now = self.services.clock.now()
        record = LedgerRecord(new_id("ldg"), name, now, dict(meta_data or {}))
        async with self.services.db.write() as conn:
            await ledger_repo.insert_ledger(conn, record, now=now)
        return record

    async def create_balance(
        self,
        currency: str,
        *,
        ledger_id: str = GENERAL_LEDGER_ID,
        identity_id: str | None = None,
        indicator: str | None = None,
        allow_overdraft: bool = False,
        meta_data: dict[str, Any] | None = None,
    ) -> BalanceRecord:
        now = self.services.clock.now()
        record = BalanceRecord(
            balance_id=new_id("bln"),
            ledger_id=ledger_id,
            currency=currency,
            created_at=now,
            identity_id=identity_id,
            indicator=indicator,
            allow_overdraft=allow_overdraft,
            meta_data=dict(meta_data or {}),
        )
        async with self.services.db.write() as conn:
            await ledger_repo.insert_balance(conn, record, now=now)
        return record

    async def balance(self, balance_id: str) -> BalanceRecord:
        async with self.services.db.read() as conn:
            return await ledger_repo.get_balance(conn, balance_id)

    async def transaction(self, transaction_id: str) -> TransactionRecord:
        async with self.services.db.read() as conn:
            return await ledger_repo.get_transaction(conn, transaction_id)

    # ---- moving value ---------------------------------------------------------------------

    async def transfer(
        self,
        source: str,
        destination: str,
        amount: int,
        *,
        currency: str,
        reference: str,
        precision: int = 1,
        description: str = "",
        meta_data: dict[str, Any] | None = None,
        inflight: bool = False,
        allow_overdraft: bool = False,
        overdraft_limit: int | None = None,
        effective_date: datetime | None = None,
        inflight_expiry_date: datetime | None = None,
    ) -> TransactionRecord:
        """Move ``amount`` minor units now (or hold them with ``inflight=True``)."""
        transfer = Transfer(
            source,
            destination,
            amount,
            currency,
            reference,
            precision,
            description,
            dict(meta_data or {}),
            inflight,
            allow_overdraft,
            overdraft_limit,
            effective_date,
            inflight_expiry_date,
        )
        [record] = await self.engine.post(self._plan(transfer))
        return record

    async def transfer_many(
        self, transfers: list[Transfer], *, atomic: bool = True
    ) -> list[TransactionRecord | TallyError]:
        """Several transfers. ``atomic``: all or none (the first error is raised); otherwise each
        stands alone and its place in the answer holds its row or its error."""
        plans = [self._plan(t) for t in transfers]
        if atomic:
            return list(await self.engine.post_atomic(plans))
        outcomes = await asyncio.gather(
            *(self.engine.post(plan) for plan in plans), return_exceptions=True
        )
        answers: list[TransactionRecord | TallyError] = []
        for outcome in outcomes:
            if isinstance(outcome, TallyError):
                answers.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                answers.append(outcome[0])
        return answers

    async def preview(self, transfer: Transfer) -> Preview:
        """What :meth:`transfer` would do now (``would_apply``, resulting balances), changing
        nothing: no row, no reference used, no balance created."""
        return await self.engine.preview([Post(self._plan(transfer))])

    async def commit(self, transaction_id: str, amount: int | None = None) -> TransactionRecord:
        """Capture ``amount`` minor units of a hold (all that remains when ``None``)."""
        if amount is not None:
            _check_amount(amount)
        [record] = await self.engine.execute([Commit(transaction_id, precise_amount=amount)])
        return record

    async def void(self, transaction_id: str) -> TransactionRecord:
        """Release what remains of a hold."""
        [record] = await self.engine.execute([Void(transaction_id)])
        return record

    async def refund(
        self, transaction_id: str, *, description: str | None = None, allow_overdraft: bool = False
    ) -> TransactionRecord:
        """Reverse an applied transaction (at most once)."""
        step = Refund(transaction_id, description, None, allow_overdraft)
        [record] = await self.engine.execute([step])
        return record

    async def verify(self) -> VerifyReport:
        """Recompute every balance from its rows and check every invariant."""
        return await verify_store(self.services.db)

    def _plan(self, t: Transfer) -> TransferPlan:
        _check_amount(t.amount)
        if t.overdraft_limit is not None:
            _check_amount(t.overdraft_limit, field="overdraft_limit", zero=True)
        request = TransferRequest(
            currency=t.currency,
            reference=t.reference,
            description=t.description,
            precise_amount=t.amount,
            precision=t.precision,
            source=t.source,
            destination=t.destination,
            allow_overdraft=t.allow_overdraft,
            overdraft_limit=None
            if t.overdraft_limit is None
            else _major(t.overdraft_limit, t.precision),
            inflight=t.inflight,
            meta_data=t.meta_data,
            effective_date=_when(t.effective_date),
            inflight_expiry_date=_when(t.inflight_expiry_date),
        )
        return plan_transfer(request, now=self.services.clock.now())


def _check_amount(value: object, *, field: str = "amount", zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{field} must be a whole number of minor units; got {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise InvalidAmount(f"{field} must be positive; got {value}")


def _major(minor: int, precision: int) -> str:
    """Minor units as the exact major-unit text ``plan_transfer`` reads for ``overdraft_limit``."""
    return major_string(minor, precision or 1)


def _when(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)
