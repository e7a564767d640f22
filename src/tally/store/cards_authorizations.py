"""Authorizations on virtual cards: approve (hold), decline, capture, reverse and expire.

An approval is one ledger hold (card balance -> ``@CardNetwork``) posted through the posting engine
with the ``auth_`` row, its expiry job and its ``card.authorization.approved`` event written in the
same database transaction. Every approval of a batch holds ``@CardNetwork``, the hot balance, so
the rows are built before the posting and queued on the batch (``loyalty_writes.WriteSet``): one
statement writes the whole batch's approvals, with a check that each card is still ACTIVE. The
check runs after the engine has locked the card's balance (state changes take that lock too), so
it cannot be overtaken; a card that left ACTIVE fails the statement, the engine replays the batch
one operation at a time, and that authorization is decided again from a fresh read of the card.
A card with a per-day limit depends on the authorizations before it: its row is inserted inside
the batch at once, as one conditional ``INSERT ... SELECT ... WHERE`` (one round trip), so
concurrent authorizations on one card are decided one after the other and never overspend it.
The engine's own funds check decides ``insufficient_funds``.

Cards are read through a per-process cache of the fields that never change (the state is always
re-checked in the write), and a cache miss joins the other misses of the moment in one read
(``loyalty_lookup.Coalesced``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.cards.authorization import (
    Authorization,
    AuthorizationRequest,
    AuthStatus,
    Decline,
    capture_amount,
    check_pending,
    daily_decline,
    day_start,
    expiry,
    hold_plan,
    parse_request,
    static_decline,
)
from tally.core.cards.errors import AuthorizationNotPending, VirtualCardNotFound
from tally.core.cards.model import CardState, VirtualCard
from tally.core.cards.views import authorization_view
from tally.core.errors import AlreadyCommitted, AlreadyVoided, InsufficientFunds, TallyError
from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.loyalty.errors import StalePlan

from . import cards_repo
from . import tables_cards as tc
from .engine import Commit, Post, Step, Void
from .loyalty_lookup import Coalesced, driver_rows
from .loyalty_writes import WriteSet, install
from .outbox import emit

if TYPE_CHECKING:
    from tally.services import Services

log = logging.getLogger("tally.cards")

EXPIRY_JOB = "cards.authorization_expiry"
ATTEMPTS = 3


class AuthorizationDeclined(TallyError):
    """Raised inside an authorization's transaction when a re-check declines it.

    It rolls back the hold; the caller then records a declined authorization instead.
    """

    code = "AUTH_DECLINED"
    internal = True

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def authorize(services: Services, card_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    req = parse_request(raw)
    now = services.clock.now()
    auth = Authorization(
        auth_id=new_id("auth"),
        card_id=card_id,
        amount=req.amount,
        currency=req.currency,
        merchant_id=req.merchant_id,
        merchant_name=req.merchant_name,
        merchant_category=req.merchant_category,
        status=AuthStatus.PENDING,
        created_at=now,
        updated_at=now,
        expires_at=expiry(now, services.settings.card_hold_seconds),
    )
    for _ in range(ATTEMPTS):
        card = await _card(services, card_id)
        decline = static_decline(card, req)
        if decline is not None:
            return await _record_decline(services, auth, *decline)
        try:
            await _approve(services, card, auth, req, now)
        except StalePlan:  # the card left ACTIVE while the hold was placed: decide again
            forget_card(services, card_id)
            continue
        except AuthorizationDeclined as declined:
            forget_card(services, card_id)
            return await _record_decline(services, auth, declined.reason, declined.message)
        except InsufficientFunds as exc:
            return await _record_decline(services, auth, Decline.INSUFFICIENT_FUNDS, exc.message)
        return authorization_view(auth)
    forget_card(services, card_id)
    return await _record_decline(
        services, auth, Decline.CARD_BLOCKED, f"card {card_id} kept changing state; try again"
    )


async def _approve(
    services: Services,
    card: VirtualCard,
    auth: Authorization,
    req: AuthorizationRequest,
    now: datetime,
) -> None:
    """Place the hold; the approval's rows are built here and written with the engine's batch.

    A card without a per-day limit needs only to be ACTIVE: its ``auth_`` row is queued with a
    check of the card's state (``loyalty_writes``: one statement for the whole batch; a card no
    longer ACTIVE fails it with ``StalePlan``). A per-day limit depends on the authorizations
    before this one, so that card's row is inserted at once, conditionally, as before.
    """
    plan = hold_plan(card, auth, now=now)
    auth.hold_transaction_id = plan.transaction_id
    per_day = card.limits.per_day
    out = WriteSet()
    if per_day is None:
        out.insert(tc.card_authorizations, cards_repo.auth_values(auth))
        out.check(
            tc.virtual_cards,
            {"card_id": card.card_id},
            {"state": CardState.ACTIVE},
            f"card {card.card_id}",
        )
    out.job(EXPIRY_JOB, auth.auth_id, auth.expires_at or now, now=now)
    out.event(
        "card.authorization.approved", authorization_view(auth), now=now, subject_id=auth.auth_id
    )

    async def approve(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        # The engine holds the card balance's row lock (and a state change takes it too), so
        # the state and today's total read here cannot change before this transaction ends.
        if records[0].transaction_id != auth.hold_transaction_id:
            raise RuntimeError("the hold was posted under another id than its plan's")
        if per_day is not None:
            since = day_start(now)
            if not await cards_repo.insert_if_allowed(conn, auth, since, per_day):
                locked = await cards_repo.get_card(conn, card.card_id)
                spent = await cards_repo.approved_since(conn, card.card_id, since)
                again = static_decline(locked, req) or daily_decline(locked, req.amount, spent)
                raise AuthorizationDeclined(*(again or ("card_blocked", "the card changed")))
        await out.flush(conn)

    install(services.engine)
    # Without a daily limit the approval only queues its rows: they ride in the engine's write.
    await services.engine.execute([Post(plan)], extra=approve, queues_only=per_day is None)


CACHE_KEY = "virtual_card_cache"
READS_KEY = "virtual_card_reads"
CACHE_LIMIT = 100_000


async def _card(services: Services, card_id: str) -> VirtualCard:
    """The card, from a per-process cache while it was last seen ACTIVE.

    Only the fields that never change (balance, currency, limits, merchant lock) are trusted from
    the cache: the state is checked again inside the approval's transaction, and a cached card
    that is not ACTIVE is always read again.
    """
    cache: dict[str, VirtualCard] = services.extras.setdefault(CACHE_KEY, {})
    found = cache.get(card_id)
    if found is not None and found.state == CardState.ACTIVE:
        return found
    found = await _reads(services).get(card_id)
    if found is None:
        raise VirtualCardNotFound(f"virtual card {card_id} not found", details={"card_id": card_id})
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[card_id] = found
    return found


def _reads(services: Services) -> Coalesced[str, VirtualCard]:
    """Card reads shared by concurrent authorizations: one query for the cards asked for while
    the previous read was in flight (``loyalty_lookup.Coalesced``)."""
    reads = services.extras.get(READS_KEY)
    if not isinstance(reads, Coalesced):

        async def fetch(ids: list[str]) -> dict[str, VirtualCard]:
            if services.db.is_postgres:
                rows = await driver_rows(services.db, cards_repo.PG_CARDS, ids)
                return {row["card_id"]: cards_repo.card_from_record(row) for row in rows}
            async with services.db.read() as conn:
                return await cards_repo.get_cards(conn, ids)

        reads = services.extras[READS_KEY] = Coalesced(fetch)
    return reads


def forget_card(services: Services, card_id: str) -> None:
    services.extras.get(CACHE_KEY, {}).pop(card_id, None)


async def _record_decline(
    services: Services, auth: Authorization, reason: str, message: str
) -> dict[str, Any]:
    auth.status = AuthStatus.DECLINED
    auth.decline_reason = reason
    auth.decline_message = message
    auth.expires_at = None
    auth.hold_transaction_id = None
    async with services.db.write() as conn:
        await cards_repo.insert_authorization(conn, auth)
        await emit(
            conn,
            "card.authorization.declined",
            authorization_view(auth),
            now=auth.created_at,
            subject_id=auth.auth_id,
        )
    return authorization_view(auth)


async def get_authorization(services: Services, card_id: str, auth_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        await cards_repo.get_card(conn, card_id)
        return authorization_view(await cards_repo.get_authorization(conn, card_id, auth_id))


async def capture(
    services: Services, card_id: str, auth_id: str, raw: dict[str, Any]
) -> dict[str, Any]:
    """Capture all of the hold or part of it; a part releases the rest in the same transaction."""
    async with services.db.read() as conn:
        auth = await cards_repo.get_authorization(conn, card_id, auth_id)
    amount = capture_amount(auth, raw.get("amount"))
    hold = str(auth.hold_transaction_id)
    steps: list[Step] = [Commit(hold, precise_amount=amount)]
    if amount < auth.amount:
        steps.append(Void(hold))
    return await _finish(
        services,
        auth,
        steps,
        AuthStatus.CAPTURED,
        amount,
        "card.authorization.captured",
        now=services.clock.now(),
    )


async def reverse(services: Services, card_id: str, auth_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        auth = await cards_repo.get_authorization(conn, card_id, auth_id)
    check_pending(auth, "reversed")
    return await _finish(
        services,
        auth,
        [Void(str(auth.hold_transaction_id))],
        AuthStatus.REVERSED,
        0,
        "card.authorization.reversed",
        now=services.clock.now(),
    )


async def _finish(
    services: Services,
    auth: Authorization,
    steps: list[Step],
    status: str,
    captured: int,
    event: str,
    *,
    now: datetime,
) -> dict[str, Any]:
    async def record(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        done = await cards_repo.finish_authorization(
            conn,
            auth.auth_id,
            status=status,
            captured=captured,
            released=auth.amount - captured,
            now=now,
        )
        if not done:
            raise AuthorizationNotPending(f"authorization {auth.auth_id} is no longer pending")
        auth.status, auth.captured_amount = status, captured
        auth.released_amount, auth.updated_at = auth.amount - captured, now
        await emit(conn, event, authorization_view(auth), now=now, subject_id=auth.auth_id)

    try:
        await services.engine.execute(steps, extra=record)
    except (AlreadyCommitted, AlreadyVoided):
        raise AuthorizationNotPending(
            f"authorization {auth.auth_id} is no longer pending; it was settled meanwhile"
        ) from None
    return authorization_view(auth)


async def expire_authorizations(
    services: Services, now: datetime | None = None, *, limit: int = 500
) -> int:
    """Release every pending authorization past its ``expires_at``; returns how many expired."""
    moment = now or services.clock.now()
    async with services.db.read() as conn:
        due = await cards_repo.expired_pending(conn, moment, limit=limit)
    expired = 0
    for row in due:
        expired += await expire_authorization(services, row.auth_id, moment)
    if expired:
        log.info("expired %d card authorizations", expired)
    return expired


async def expire_authorization(services: Services, auth_id: str, now: datetime) -> bool:
    """Release one authorization if it is still pending and due (idempotent)."""
    async with services.db.read() as conn:
        auth = await cards_repo.find_authorization(conn, auth_id)
    if auth is None or auth.status != AuthStatus.PENDING:
        return False
    if auth.expires_at is not None and auth.expires_at > now:
        return False
    try:
        await _finish(
            services,
            auth,
            [Void(str(auth.hold_transaction_id))],
            AuthStatus.EXPIRED,
            0,
            "card.authorization.expired",
            now=now,
        )
    except AuthorizationNotPending:
        return False  # captured or reversed a moment ago
    return True
