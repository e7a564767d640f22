"""Offers, persons, linked cards and card-offer links: creating and changing them.

Rules (documented in docs/cards.md):
- ``POST /persons`` reuses the person with the same email (trimmed, case-insensitive): the existing
  person is returned unchanged with 200; a new one is created with 201.
- ``POST /cards`` refuses a CVV (400 ``CARD_CVV_NOT_ACCEPTED``): Tally never needs one. The
  number is checked, fingerprinted with ``TALLY_CARD_FINGERPRINT_KEY`` and dropped; only brand,
  first six, last four, expiry and the fingerprint are kept. The same card for the same person
  returns the existing card (200); the same card for another person is a 409.
- Linking a card to an offer twice returns the existing link; an unlinked link is reactivated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tally.core.cards import fields, pan
from tally.core.cards.errors import CardFieldInvalid
from tally.core.ids import new_id
from tally.core.offers.errors import (
    CardAlreadyEnrolled,
    CvvNotAccepted,
    OfferNotLinkable,
)
from tally.core.offers.feed import CVV_KEYS
from tally.core.offers.model import (
    CardOffer,
    LinkedCard,
    OfferStatus,
    Person,
    next_offer_status,
    normalize_email,
    parse_offer,
    timestamp,
)
from tally.core.offers.views import card_offer_view, card_view, offer_view, person_view
from tally.settings import Settings

from . import ledger_repo
from . import offers_repo as repo
from .outbox import emit

if TYPE_CHECKING:
    from tally.services import Services

FINGERPRINT_SETTING = "TALLY_CARD_FINGERPRINT_KEY"


def fingerprint_key(settings: Settings) -> bytes:
    return pan.parse_key(settings.card_fingerprint_key, FINGERPRINT_SETTING)


def _meta(raw: dict[str, Any]) -> dict[str, Any]:
    meta = raw.get("meta_data") or {}
    if not isinstance(meta, dict):
        raise CardFieldInvalid("meta_data must be an object", details={"field": "meta_data"})
    return meta


# ---- offers ---------------------------------------------------------------------------------


async def create_offer(services: Services, raw: dict[str, Any]) -> dict[str, Any]:
    now = services.clock.now()
    offer = parse_offer(raw, offer_id=new_id("ofr"), now=now)
    async with services.db.write() as conn:
        await repo.insert_offer(conn, offer)
        view = offer_view(offer)
        await emit(conn, "offer.created", view, now=now, subject_id=offer.offer_id)
    return view


async def update_offer(services: Services, offer_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Change status (active / paused / ended; ended is final), name, pos_text or ends_at."""
    now = services.clock.now()
    unknown = set(raw) - {"status", "name", "pos_text", "ends_at"}
    if unknown:
        raise CardFieldInvalid(
            f"only status, name, pos_text and ends_at can change; got {sorted(unknown)}",
            details={"field": sorted(unknown)[0]},
        )
    async with services.db.write() as conn:
        offer = await repo.get_offer(conn, offer_id)
        values: dict[str, Any] = {"updated_at": now}
        if "status" in raw:
            values["status"] = offer.status = next_offer_status(offer, raw["status"])
        if "name" in raw:
            values["name"] = offer.name = fields.text(raw["name"], "name")
        if "pos_text" in raw:
            values["pos_text"] = offer.pos_text = fields.text(
                raw["pos_text"], "pos_text", required=False, limit=500
            )
        if "ends_at" in raw:
            values["ends_at"] = offer.ends_at = timestamp(raw["ends_at"], "ends_at")
            if offer.ends_at and offer.starts_at and offer.ends_at <= offer.starts_at:
                raise CardFieldInvalid(
                    "ends_at must be after starts_at", details={"field": "ends_at"}
                )
        offer.updated_at = now
        await repo.update_offer(conn, offer_id, **values)
        view = offer_view(offer)
        await emit(conn, "offer.updated", view, now=now, subject_id=offer_id)
    return view


# ---- persons --------------------------------------------------------------------------------


async def create_person(services: Services, raw: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(person, created); an existing person with the same email is returned as it is."""
    now = services.clock.now()
    email = normalize_email(raw.get("email"))
    name = fields.text(raw.get("full_name"), "full_name")
    points = raw.get("points_balance_id")
    if points is not None:
        points = fields.identifier(points, "points_balance_id", "bln")
    person = Person(new_id("per"), name, email, now, points, _meta(raw))
    for _ in range(2):
        async with services.db.read() as conn:
            existing = await repo.person_by_email(conn, email)
        if existing is not None:
            return person_view(existing), False
        try:
            async with services.db.write() as conn:
                if points is not None:
                    await ledger_repo.get_balance(conn, points)
                await repo.insert_person(conn, person)
                view = person_view(person)
                await emit(conn, "person.created", view, now=now, subject_id=person.person_id)
                return view, True
        except sa.exc.IntegrityError:
            continue  # the same email was created a moment ago: return that person
    raise AssertionError("unreachable")


async def update_person(services: Services, person_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Set the person's points balance (their loyalty account's ledger balance) or name."""
    unknown = set(raw) - {"points_balance_id", "full_name"}
    if unknown:
        raise CardFieldInvalid(
            f"only full_name and points_balance_id can change; got {sorted(unknown)}",
            details={"field": sorted(unknown)[0]},
        )
    now = services.clock.now()
    async with services.db.write() as conn:
        person = await repo.get_person(conn, person_id)
        values: dict[str, Any] = {}
        if "points_balance_id" in raw:
            balance = fields.identifier(raw["points_balance_id"], "points_balance_id", "bln")
            await ledger_repo.get_balance(conn, balance)
            values["points_balance_id"] = person.points_balance_id = balance
        if "full_name" in raw:
            values["full_name"] = person.full_name = fields.text(raw["full_name"], "full_name")
        if values:
            await repo.update_person(conn, person_id, **values)
        view = person_view(person)
        await emit(conn, "person.updated", view, now=now, subject_id=person_id)
    return view


# ---- linked cards ---------------------------------------------------------------------------


def _expiry(raw: dict[str, Any]) -> tuple[Any, Any]:
    if raw.get("expiry") is not None:
        text = str(raw["expiry"]).strip()
        month, sep, year = text.partition("/")
        if not sep:
            raise pan.CardExpired(
                "expiry must look like MM/YY or MM/YYYY", details={"field": "expiry"}
            )
        return month, year
    return raw.get("exp_month"), raw.get("exp_year")


async def create_card(services: Services, raw: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(card, created). The number is fingerprinted and dropped before any I/O."""
    for key in CVV_KEYS:
        if key in raw:
            raise CvvNotAccepted(
                "do not send a CVV: Tally never receives, stores or logs one; remove "
                f"{key!r} and retry",
                details={"field": key},
            )
    now = services.clock.now()
    person_id = fields.identifier(raw.get("person_id"), "person_id", "per")
    digits = pan.normalize(raw.get("number"))
    truncated = pan.truncate(digits)
    month, year = pan.parse_expiry(*_expiry(raw), now=now)
    print_ = pan.fingerprint(digits, fingerprint_key(services.settings))
    del digits
    card = LinkedCard(
        new_id("card"),
        person_id,
        print_,
        truncated.brand,
        truncated.first6,
        truncated.last4,
        month,
        year,
        now,
        _meta(raw),
    )
    for _ in range(2):
        async with services.db.read() as conn:
            await repo.get_person(conn, person_id)
            existing = await repo.card_by_fingerprint(conn, print_)
        if existing is not None:
            if existing.person_id != person_id:
                raise CardAlreadyEnrolled("this card is already enrolled by another person")
            return card_view(existing), False
        try:
            async with services.db.write() as conn:
                await repo.insert_card(conn, card)
                view = card_view(card)
                await emit(conn, "offer.card.enrolled", view, now=now, subject_id=card.card_id)
                return view, True
        except sa.exc.IntegrityError:
            continue
    raise AssertionError("unreachable")


async def link(
    services: Services, card_id: str, raw: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    now = services.clock.now()
    offer_id = fields.identifier(raw.get("offer_id"), "offer_id", "ofr")
    async with services.db.write() as conn:
        card = await repo.get_card(conn, card_id)
        offer = await repo.get_offer(conn, offer_id)
        if offer.status == OfferStatus.ENDED or (
            offer.ends_at is not None and offer.ends_at <= now
        ):
            raise OfferNotLinkable(f"offer {offer_id} has ended; it cannot be linked")
        if (card.exp_year, card.exp_month) < (now.year, now.month):
            raise OfferNotLinkable(f"card {card_id} has expired; enroll the new card")
        existing = await repo.get_link(conn, card_id, offer_id)
        if existing is not None and existing.status == "active":
            return card_offer_view(existing), False
        if existing is not None:
            await repo.set_link_status(conn, existing.card_offer_id, "active", now=now)
            existing.status, existing.updated_at = "active", now
            found = existing
        else:
            found = CardOffer(new_id("cof"), card_id, offer_id, "active", 0, now, now)
            await repo.insert_link(conn, found)
        view = card_offer_view(found)
        await emit(conn, "offer.card.linked", view, now=now, subject_id=found.card_offer_id)
    return view, True


async def unlink(services: Services, card_id: str, card_offer_id: str) -> dict[str, Any]:
    now = services.clock.now()
    async with services.db.write() as conn:
        found = await repo.get_link_by_id(conn, card_id, card_offer_id)
        if found.status != "unlinked":
            await repo.set_link_status(conn, card_offer_id, "unlinked", now=now)
            found.status, found.updated_at = "unlinked", now
            await emit(
                conn,
                "offer.card.unlinked",
                card_offer_view(found),
                now=now,
                subject_id=card_offer_id,
            )
    return card_offer_view(found)
