"""Issuing virtual cards and changing their state.

A card is a balance in the ``Virtual cards <CUR>`` ledger (created on first use). The balance's
``meta_data`` mirrors the card (id, state, masked number) as the seed recommends, so the card can
also be followed on the raw ledger API. Creating a card, changing its state and the outbox event
happen in one database transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tally.core.cards import fields
from tally.core.cards.errors import CardFieldInvalid
from tally.core.cards.model import (
    CardState,
    VirtualCard,
    holder_type,
    next_state,
    parse_issued_details,
    parse_limits,
    parse_merchant_lock,
)
from tally.core.cards.pan import masked
from tally.core.cards.views import virtual_card_view
from tally.core.ids import new_id
from tally.core.ledger.records import BalanceRecord

from . import cards_repo, ledger_repo
from . import tables_cards as tc
from .cards_authorizations import forget_card
from .cards_vault import vault_for_create
from .outbox import emit

if TYPE_CHECKING:
    from tally.services import Services


def _balance_meta(card: VirtualCard) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "card_id": card.card_id,
        "card_state": card.state,
        "holder_id": card.holder_id,
    }
    if card.details is not None:
        meta["card_number"] = masked(None, card.details.last4)
        meta["card_expiry"] = f"{card.details.exp_month:02d}/{card.details.exp_year}"
    return meta


async def _check_holder(conn: Any, holder_id: str, kind: str) -> None:
    if kind == "identity":
        await ledger_repo.get_identity_or_400(conn, holder_id)
        return
    found = (
        await conn.execute(sa.select(tc.persons.c.id).where(tc.persons.c.person_id == holder_id))
    ).first()
    if found is None:
        raise CardFieldInvalid(
            f"holder: person {holder_id} does not exist", details={"field": "holder"}
        )


async def create_virtual_card(services: Services, raw: dict[str, Any]) -> dict[str, Any]:
    now = services.clock.now()
    holder = fields.text(raw.get("holder"), "holder", limit=80)
    kind = holder_type(holder)
    currency = fields.currency(raw.get("currency"))
    limits = parse_limits(raw.get("limits"))
    lock = parse_merchant_lock(raw.get("merchant_lock"))
    meta = raw.get("meta_data") or {}
    if not isinstance(meta, dict):
        raise CardFieldInvalid("meta_data must be an object", details={"field": "meta_data"})
    raw_details = raw.get("details")
    details, secret = (
        (None, None) if raw_details is None else parse_issued_details(raw_details, now=now)
    )
    vault = vault_for_create(services.settings, has_details=details is not None)
    card = VirtualCard(
        card_id=new_id("vcard"),
        holder_id=holder,
        holder_type=kind,
        currency=currency,
        ledger_id="",
        balance_id=new_id("bln"),
        state=CardState.ACTIVE,
        limits=limits,
        created_at=now,
        updated_at=now,
        merchant_lock=lock,
        details=details,
        meta_data=meta,
    )
    ciphertext = vault.seal(card.card_id, secret) if vault is not None and secret else None
    for attempt in (1, 2):
        try:
            async with services.db.write() as conn:
                await _check_holder(conn, holder, kind)
                card.ledger_id = await cards_repo.ensure_ledger(
                    conn, "virtual_cards", currency, now=now
                )
                balance = BalanceRecord(
                    balance_id=card.balance_id,
                    ledger_id=card.ledger_id,
                    currency=currency,
                    created_at=now,
                    identity_id=holder if kind == "identity" else None,
                    meta_data=_balance_meta(card),
                )
                await ledger_repo.insert_balance(conn, balance, now=now)
                await cards_repo.insert_card(conn, card, ciphertext=ciphertext)
                view = virtual_card_view(card, balance)
                await emit(conn, "card.created", view, now=now, subject_id=card.card_id)
                return view
        except sa.exc.IntegrityError:
            if attempt == 2:  # the card ledger was created by a concurrent first card: retry once
                raise
    raise AssertionError("unreachable")


async def get_virtual_card(services: Services, card_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        card = await cards_repo.get_card(conn, card_id)
        balance = await ledger_repo.get_balance(conn, card.balance_id)
    return virtual_card_view(card, balance)


async def change_state(services: Services, card_id: str, action: str) -> dict[str, Any]:
    """``block``, ``unblock`` or ``close``; emits ``card.state_changed`` with the old state."""
    now = services.clock.now()
    async with services.db.write() as conn:
        # Lock order as in an authorization (balance, then card), so the two never deadlock.
        balance_id = (await cards_repo.get_card(conn, card_id)).balance_id
        await cards_repo.lock_balance(conn, balance_id)
        card = await cards_repo.get_card(conn, card_id, lock=True)
        previous = card.state
        card.state = next_state(card, action)
        card.updated_at = now
        await cards_repo.set_state(conn, card_id, card.state, now=now)
        await ledger_repo.merge_metadata(conn, card.balance_id, {"card_state": card.state}, now=now)
        balance = await ledger_repo.get_balance(conn, card.balance_id)
        view = virtual_card_view(card, balance)
        await emit(
            conn,
            "card.state_changed",
            {**view, "previous_state": previous},
            now=now,
            subject_id=card_id,
        )
    forget_card(services, card_id)
    return view
