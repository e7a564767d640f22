"""Card-linked offers, Pay with Points (seed 003): offers, persons, cards, links, network feed.

Bodies are read as plain JSON objects and checked by the core, so that no validation message can
repeat a card number. ``POST /cards`` and ``POST /card-transactions`` never store, log or return
a card number; a CVV is refused.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, patch, post
from litestar.datastructures import State

from tally.core.offers.feed import redemption_view, transaction_view
from tally.core.offers.views import card_offer_view, card_view, offer_view, person_view
from tally.store import offers_enrollment as enrollment
from tally.store import offers_feed as feed
from tally.store import offers_repo as repo

from ..deps import services
from .cards import json_object, page

Body = Request[Any, Any, Any]


def _created(view: dict[str, Any], created: bool) -> Response[dict[str, Any]]:
    return Response(view, status_code=201 if created else 200)


# ---- offers ---------------------------------------------------------------------------------


@post("/offers", status_code=201, tags=["offers"], summary="Create a card-linked offer")
async def create_offer(request: Body, state: State) -> dict[str, Any]:
    return await enrollment.create_offer(services(state), await json_object(request))


@get("/offers", tags=["offers"], summary="List offers")
async def list_offers(
    state: State,
    merchant_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    limit, offset = page(limit, offset)
    async with services(state).db.read() as conn:
        found = await repo.list_offers(
            conn, merchant_id=merchant_id, status=status, limit=limit, offset=offset
        )
    return [offer_view(offer) for offer in found]


@get("/offers/{offer_id:str}", tags=["offers"], summary="Get an offer")
async def get_offer(offer_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return offer_view(await repo.get_offer(conn, offer_id))


@patch(
    "/offers/{offer_id:str}",
    tags=["offers"],
    summary="Pause, resume or end an offer; rename it or change its end",
)
async def update_offer(offer_id: str, request: Body, state: State) -> dict[str, Any]:
    return await enrollment.update_offer(services(state), offer_id, await json_object(request))


@get(
    "/offers/{offer_id:str}/redemptions",
    tags=["offers"],
    summary="List an offer's redemptions, newest first",
)
async def list_redemptions(
    offer_id: str, state: State, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    limit, offset = page(limit, offset)
    async with services(state).db.read() as conn:
        await repo.get_offer(conn, offer_id)
        found = await repo.list_redemptions(
            conn, offer_id=offer_id, card_id=None, limit=limit, offset=offset
        )
    return [redemption_view(r) for r in found]


# ---- persons --------------------------------------------------------------------------------


@post(
    "/persons",
    tags=["offers"],
    summary="Create a person (an existing person with the same email is returned, 200)",
)
async def create_person(request: Body, state: State) -> Response[dict[str, Any]]:
    return _created(*await enrollment.create_person(services(state), await json_object(request)))


@get("/persons/{person_id:str}", tags=["offers"], summary="Get a person")
async def get_person(person_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return person_view(await repo.get_person(conn, person_id))


@patch(
    "/persons/{person_id:str}",
    tags=["offers"],
    summary="Set a person's name or points balance (their loyalty account's balance)",
)
async def update_person(person_id: str, request: Body, state: State) -> dict[str, Any]:
    return await enrollment.update_person(services(state), person_id, await json_object(request))


@get("/persons/{person_id:str}/cards", tags=["offers"], summary="List a person's cards")
async def list_person_cards(person_id: str, state: State) -> list[dict[str, Any]]:
    async with services(state).db.read() as conn:
        await repo.get_person(conn, person_id)
        return [card_view(card) for card in await repo.list_cards(conn, person_id)]


# ---- cards and links ------------------------------------------------------------------------


@post(
    "/cards",
    tags=["offers"],
    summary="Enroll a card: number and expiry in; only brand, first six, last four kept",
)
async def create_card(request: Body, state: State) -> Response[dict[str, Any]]:
    return _created(*await enrollment.create_card(services(state), await json_object(request)))


@get("/cards/{card_id:str}", tags=["offers"], summary="Get a card (masked)")
async def get_card(card_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return card_view(await repo.get_card(conn, card_id))


@post(
    "/cards/{card_id:str}/offers", tags=["offers"], summary="Link a card to an offer (a CardOffer)"
)
async def link_offer(card_id: str, request: Body, state: State) -> Response[dict[str, Any]]:
    return _created(*await enrollment.link(services(state), card_id, await json_object(request)))


@get("/cards/{card_id:str}/offers", tags=["offers"], summary="List a card's offer links")
async def list_links(card_id: str, state: State, status: str | None = None) -> list[dict[str, Any]]:
    async with services(state).db.read() as conn:
        await repo.get_card(conn, card_id)
        return [
            card_offer_view(link) for link in await repo.list_links(conn, card_id, status=status)
        ]


@delete(
    "/cards/{card_id:str}/offers/{card_offer_id:str}",
    status_code=200,
    tags=["offers"],
    summary="Unlink a card from an offer",
)
async def unlink_offer(card_id: str, card_offer_id: str, state: State) -> dict[str, Any]:
    return await enrollment.unlink(services(state), card_id, card_offer_id)


# ---- the network feed -----------------------------------------------------------------------


@post(
    "/card-transactions",
    tags=["offers"],
    summary="The card network's feed (auth, clearing, refund, reversal); idempotent on id",
)
async def ingest(request: Body, state: State) -> Response[dict[str, Any]]:
    return _created(*await feed.ingest(services(state), await json_object(request)))


@get("/card-transactions", tags=["offers"], summary="List card transactions, newest first")
async def list_card_transactions(
    state: State, card_id: str | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    limit, offset = page(limit, offset)
    async with services(state).db.read() as conn:
        found = await repo.list_ctx(conn, card_id=card_id, limit=limit, offset=offset)
    return [transaction_view(ctx) for ctx in found]


@get(
    "/card-transactions/{ctx_id:str}",
    tags=["offers"],
    summary="Get a card transaction (by ctx_ id or network id) with why an offer applied or not",
)
async def get_card_transaction(ctx_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        ctx = await repo.get_ctx(conn, ctx_id)
        redemption = (
            await repo.get_redemption(conn, ctx.redemption_id) if ctx.redemption_id else None
        )
    view = transaction_view(ctx)
    view["redemption"] = redemption_view(redemption) if redemption else None
    return view


ROUTES = [
    create_offer,
    list_offers,
    get_offer,
    update_offer,
    list_redemptions,
    create_person,
    get_person,
    update_person,
    list_person_cards,
    create_card,
    get_card,
    link_offer,
    list_links,
    unlink_offer,
    ingest,
    list_card_transactions,
    get_card_transaction,
]
