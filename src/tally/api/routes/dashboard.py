"""Operator dashboard routes (HTML, read-only). Sign-in with the master key when one is set."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect

from tally.dashboard import pages
from tally.store import dashboard_repo as repo
from tally.store import ledger_repo

from ..deps import services

COOKIE = "tally_dashboard"


def session_token(master_key: str) -> str:
    """The cookie value: derived from the master key, never the key itself."""
    return hmac.new(master_key.encode(), b"tally-dashboard-session", hashlib.sha256).hexdigest()


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(body, media_type=MediaType.HTML, status_code=status)


@get("/dashboard", include_in_schema=False)
async def overview(state: State) -> Response[str]:
    async with services(state).db.read() as conn:
        return _html(pages.overview_page(await repo.overview(conn)))


@get("/dashboard/ledgers", include_in_schema=False)
async def ledgers(state: State) -> Response[str]:
    async with services(state).db.read() as conn:
        return _html(pages.ledgers_page(await repo.ledgers(conn)))


@get("/dashboard/balances", include_in_schema=False)
async def balances(state: State, ledger: str = "", currency: str = "") -> Response[str]:
    async with services(state).db.read() as conn:
        items = await repo.balances(
            conn, ledger_id=ledger or None, currency=currency or None, limit=200
        )
    return _html(pages.balances_page(items, ledger=ledger, currency=currency))


@get("/dashboard/balances/{balance_id:str}", include_in_schema=False)
async def balance(balance_id: str, state: State) -> Response[str]:
    async with services(state).db.read() as conn:
        record = await ledger_repo.get_balance(conn, balance_id)
        items = await repo.transactions(
            conn, balance_id=balance_id, status=None, limit=100, offset=0
        )
    return _html(pages.balance_page(record, items))


@get("/dashboard/transactions", include_in_schema=False)
async def transactions(state: State, status: str = "", offset: int = 0) -> Response[str]:
    limit = 50
    async with services(state).db.read() as conn:
        items = await repo.transactions(
            conn, balance_id=None, status=status or None, limit=limit, offset=max(offset, 0)
        )
    return _html(pages.transactions_page(items, status=status, offset=offset, limit=limit))


@get("/dashboard/events", include_in_schema=False)
async def events(state: State) -> Response[str]:
    async with services(state).db.read() as conn:
        return _html(pages.events_page(await repo.recent_events(conn, 200)))


@get("/dashboard/login", include_in_schema=False)
async def login_form() -> Response[str]:
    return _html(pages.login_page())


@post("/dashboard/login", include_in_schema=False, status_code=303)
async def login(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    master = services(state).settings.master_key
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    given = (form.get("key") or [""])[0]
    if master is None:
        return Redirect("/dashboard", status_code=303)
    if not hmac.compare_digest(given.encode(), master.encode()):
        return _html(pages.login_page("That key is not the master key."), status=401)
    response: Response[Any] = Redirect("/dashboard", status_code=303)
    response.set_cookie(
        COOKIE,
        session_token(master),
        path="/dashboard",
        httponly=True,
        samesite="strict",
        max_age=8 * 3600,
    )
    return response


ROUTES = [overview, ledgers, balances, balance, transactions, events, login_form, login]
