"""Virtual cards (seed 001): issue, authorize, capture, reverse, block/unblock/close.

Bodies are read as plain JSON objects and checked by the core, so that no validation message can
ever repeat a card number sent in ``details``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State

from tally.core.cards.errors import CardFieldInvalid
from tally.core.cards.views import virtual_card_view
from tally.core.errors import MalformedRequest
from tally.store import cards_authorizations as auths
from tally.store import cards_issuing as issuing
from tally.store import cards_repo

from ..deps import services

MAX_PAGE = 500


async def json_object(request: Request[Any, Any, Any], *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` when ``optional``."""
    return object_from(await request.body(), optional=optional)


def object_from(body: bytes, *, optional: bool = False) -> dict[str, Any]:
    """A request body as the JSON object the card services take, or a 400."""
    if optional and not body.strip():
        return {}
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise MalformedRequest("Invalid input: the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise CardFieldInvalid("the body must be a JSON object")
    return value


def page(limit: int, offset: int) -> tuple[int, int]:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise CardFieldInvalid(f"limit must be 1-{MAX_PAGE} and offset 0 or more")
    return limit, offset


@post(
    "/virtual-cards",
    status_code=201,
    tags=["virtual cards"],
    summary="Issue a virtual card (a ledger balance with limits and a state)",
)
async def create_virtual_card(request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
    return await issuing.create_virtual_card(services(state), await json_object(request))


@get("/virtual-cards", tags=["virtual cards"], summary="List virtual cards")
async def list_virtual_cards(
    state: State, holder: str | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    limit, offset = page(limit, offset)
    async with services(state).db.read() as conn:
        cards = await cards_repo.list_cards(conn, holder_id=holder, limit=limit, offset=offset)
    return [virtual_card_view(card) for card in cards]


@get(
    "/virtual-cards/{card_id:str}",
    tags=["virtual cards"],
    summary="Get a virtual card with its balance, held and available amounts",
)
async def get_virtual_card(card_id: str, state: State) -> dict[str, Any]:
    return await issuing.get_virtual_card(services(state), card_id)


@post(
    "/virtual-cards/{card_id:str}/block",
    status_code=200,
    tags=["virtual cards"],
    summary="Block a card (authorizations are declined until it is unblocked)",
)
async def block_card(card_id: str, state: State) -> dict[str, Any]:
    return await issuing.change_state(services(state), card_id, "block")


@post(
    "/virtual-cards/{card_id:str}/unblock",
    status_code=200,
    tags=["virtual cards"],
    summary="Unblock a blocked card",
)
async def unblock_card(card_id: str, state: State) -> dict[str, Any]:
    return await issuing.change_state(services(state), card_id, "unblock")


@post(
    "/virtual-cards/{card_id:str}/close",
    status_code=200,
    tags=["virtual cards"],
    summary="Close a card for good",
)
async def close_card(card_id: str, state: State) -> dict[str, Any]:
    return await issuing.change_state(services(state), card_id, "close")


@post(
    "/virtual-cards/{card_id:str}/authorizations",
    status_code=201,
    tags=["virtual cards"],
    summary="Authorize a payment: approved (an inflight hold) or declined with a reason",
)
async def authorize(card_id: str, request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
    return await auths.authorize(services(state), card_id, await json_object(request))


@get(
    "/virtual-cards/{card_id:str}/authorizations",
    tags=["virtual cards"],
    summary="List a card's authorizations, newest first",
)
async def list_authorizations(
    card_id: str, state: State, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    from tally.core.cards.views import authorization_view

    limit, offset = page(limit, offset)
    async with services(state).db.read() as conn:
        await cards_repo.get_card(conn, card_id)
        found = await cards_repo.list_authorizations(
            conn, card_id, status=status, limit=limit, offset=offset
        )
    return [authorization_view(auth) for auth in found]


@get(
    "/virtual-cards/{card_id:str}/authorizations/{auth_id:str}",
    tags=["virtual cards"],
    summary="Get an authorization",
)
async def get_authorization(card_id: str, auth_id: str, state: State) -> dict[str, Any]:
    return await auths.get_authorization(services(state), card_id, auth_id)


@post(
    "/virtual-cards/{card_id:str}/authorizations/{auth_id:str}/capture",
    status_code=200,
    tags=["virtual cards"],
    summary="Capture all or part of an authorization",
)
async def capture(
    card_id: str, auth_id: str, request: Request[Any, Any, Any], state: State
) -> dict[str, Any]:
    body = await json_object(request, optional=True)
    return await auths.capture(services(state), card_id, auth_id, body)


@post(
    "/virtual-cards/{card_id:str}/authorizations/{auth_id:str}/reverse",
    status_code=200,
    tags=["virtual cards"],
    summary="Reverse an authorization (release its hold)",
)
async def reverse(card_id: str, auth_id: str, state: State) -> dict[str, Any]:
    return await auths.reverse(services(state), card_id, auth_id)


ROUTES = [
    create_virtual_card,
    list_virtual_cards,
    get_virtual_card,
    block_card,
    unblock_card,
    close_card,
    authorize,
    list_authorizations,
    get_authorization,
    capture,
    reverse,
]
