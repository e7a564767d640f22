"""Loyalty (seeds 000 and 002): programs, customers, accounts, rewards, redemptions, payments,
refunds, points transactions and reconciliation.

Bodies are plain JSON objects checked by the loyalty services (one place for field rules).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from tally.core.errors import MalformedRequest
from tally.core.loyalty.errors import LoyaltyInvalid
from tally.store import loyalty_adjust as adjustments
from tally.store import loyalty_award as awards
from tally.store import loyalty_members as members
from tally.store import loyalty_payments as payments
from tally.store import loyalty_programs as programs
from tally.store import loyalty_redemptions as redemptions
from tally.store import loyalty_refunds as refunds
from tally.store import loyalty_repo
from tally.store import loyalty_reports as reports
from tally.store.loyalty_earning import simulate

from ..deps import services

Body = dict[str, Any]


async def body(request: Request[Any, Any, Any], *, optional: bool = False) -> Body:
    return body_from(await request.body(), optional=optional)


def body_from(raw: bytes, *, optional: bool = False) -> Body:
    """A request body as the JSON object the loyalty services take, or a 400."""
    if optional and not raw.strip():
        return {}
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise MalformedRequest("Invalid input: the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise LoyaltyInvalid("the body must be a JSON object")
    return value


Limit = Parameter(query="limit", default=10, ge=1, le=loyalty_repo.MAX_PAGE)

# ---- programs ---------------------------------------------------------------------------------


@post(
    "/loyalty/programs",
    status_code=201,
    tags=["loyalty"],
    summary="Create a program (a ledger with issuing, redemption and pending balances)",
)
async def create_program(request: Request[Any, Any, Any], state: State) -> Body:
    return await programs.create_program(services(state), await body(request))


@get("/loyalty/programs", tags=["loyalty"], summary="List programs")
async def list_programs(state: State) -> Body:
    return loyalty_repo.listing(
        await programs.list_programs(services(state)), False, "/loyalty/programs"
    )


@get("/loyalty/programs/{program_id:str}", tags=["loyalty"], summary="Get a program")
async def get_program(program_id: str, state: State) -> Body:
    return await programs.get_program(services(state), program_id)


@post(
    "/loyalty/programs/{program_id:str}",
    status_code=200,
    tags=["loyalty"],
    summary="Update a program's name, rules or settings (keys left out are kept)",
)
async def update_program(program_id: str, request: Request[Any, Any, Any], state: State) -> Body:
    return await programs.update_program(services(state), program_id, await body(request))


@post(
    "/loyalty/programs/{program_id:str}/simulate",
    status_code=200,
    tags=["loyalty"],
    summary="Points a payment would earn, and rule by rule why",
)
async def simulate_earning(program_id: str, request: Request[Any, Any, Any], state: State) -> Body:
    svc = services(state)
    data = await body(request)
    async with svc.db.read() as conn:
        program = await loyalty_repo.get_program(conn, program_id)
        return await simulate(conn, program, data, svc.clock.now())


# ---- customers and accounts -------------------------------------------------------------------


@post("/customers", status_code=201, tags=["loyalty"], summary="Create a customer")
async def create_customer(request: Request[Any, Any, Any], state: State) -> Body:
    return await members.create_customer(services(state), await body(request, optional=True))


@get("/customers", tags=["loyalty"], summary="List customers (newest first)")
async def list_customers(
    state: State, limit: int = Limit, starting_after: str | None = None
) -> Body:
    return await members.list_customers(services(state), limit=limit, starting_after=starting_after)


@get("/customers/{customer_id:str}", tags=["loyalty"], summary="Get a customer")
async def get_customer(customer_id: str, state: State) -> Body:
    return await members.get_customer(services(state), customer_id)


@post(
    "/loyalty/accounts",
    status_code=201,
    tags=["loyalty"],
    summary="Create a loyalty account (a ledger balance) in a program, optionally for a customer",
)
async def create_account(request: Request[Any, Any, Any], state: State) -> Body:
    return await members.create_account(services(state), await body(request))


@get("/loyalty/accounts", tags=["loyalty"], summary="List loyalty accounts")
async def list_accounts(
    state: State,
    program: str | None = None,
    customer: str | None = None,
    limit: int = Limit,
    starting_after: str | None = None,
) -> Body:
    return await members.list_accounts(
        services(state),
        program=program,
        customer=customer,
        limit=limit,
        starting_after=starting_after,
    )


@get(
    "/loyalty/accounts/{account_id:str}",
    tags=["loyalty"],
    summary="Get an account: balance, available, pending, held, lifetime totals",
)
async def get_account(account_id: str, state: State) -> Body:
    return await members.get_account(services(state), account_id)


@post(
    "/loyalty/accounts/{account_id:str}/link",
    status_code=200,
    tags=["loyalty"],
    summary="Link the account to a customer",
)
async def link_account(account_id: str, request: Request[Any, Any, Any], state: State) -> Body:
    data = await body(request)
    customer = data.get("customer")
    if not isinstance(customer, str) or not customer:
        raise LoyaltyInvalid("customer: cannot be blank (a cust_ id)")
    return await members.link_customer(services(state), account_id, customer)


@post(
    "/loyalty/accounts/{account_id:str}/adjustments",
    status_code=201,
    tags=["loyalty"],
    summary="Add or remove points by hand (a reason is required)",
)
async def adjust_account(account_id: str, request: Request[Any, Any, Any], state: State) -> Body:
    return await adjustments.adjust(services(state), account_id, await body(request))


# ---- rewards and redemptions ------------------------------------------------------------------


@post(
    "/loyalty/rewards",
    status_code=201,
    tags=["loyalty"],
    summary="Create a reward: a points cost for a discount in a currency",
)
async def create_reward(request: Request[Any, Any, Any], state: State) -> Body:
    return await programs.create_reward(services(state), await body(request))


@get("/loyalty/rewards", tags=["loyalty"], summary="List rewards")
async def list_rewards(state: State, program: str | None = None) -> Body:
    items = await programs.list_rewards(services(state), program)
    return loyalty_repo.listing(items, False, "/loyalty/rewards")


@get("/loyalty/rewards/{reward_id:str}", tags=["loyalty"], summary="Get a reward")
async def get_reward(reward_id: str, state: State) -> Body:
    return await programs.get_reward(services(state), reward_id)


@post(
    "/loyalty/redemptions",
    status_code=201,
    tags=["loyalty"],
    summary="Redeem a reward: the points are held at once (inflight) until used or released",
)
async def create_redemption(request: Request[Any, Any, Any], state: State) -> Body:
    return await redemptions.create_redemption(services(state), await body(request))


@get("/loyalty/redemptions/{redemption_id:str}", tags=["loyalty"], summary="Get a redemption")
async def get_redemption(redemption_id: str, state: State) -> Body:
    return await redemptions.get_redemption(services(state), redemption_id)


@post(
    "/loyalty/redemptions/{redemption_id:str}/cancel",
    status_code=200,
    tags=["loyalty"],
    summary="Release a held redemption: its points go back to the member",
)
async def cancel_redemption(redemption_id: str, state: State) -> Body:
    return await redemptions.cancel_redemption(services(state), redemption_id)


# ---- payments and refunds ---------------------------------------------------------------------


@post(
    "/payments",
    status_code=201,
    tags=["payments"],
    summary="Create a payment (pending or completed), with redemptions as discounts",
)
async def create_payment(request: Request[Any, Any, Any], state: State) -> Body:
    return await payments.create_payment(services(state), await body(request))


@get("/payments/{payment_id:str}", tags=["payments"], summary="Get a payment")
async def get_payment(payment_id: str, state: State) -> Body:
    return await payments.get_payment(services(state), payment_id)


@post(
    "/payments/{payment_id:str}/complete",
    status_code=200,
    tags=["payments"],
    summary="Complete a payment: commit its redemptions and earn points (idempotent)",
)
async def complete_payment(payment_id: str, state: State) -> Body:
    return await payments.complete_payment(services(state), payment_id)


@post(
    "/payments/{payment_id:str}/fail",
    status_code=200,
    tags=["payments"],
    summary="Fail a pending payment: its redemptions are released",
)
async def fail_payment(payment_id: str, request: Request[Any, Any, Any], state: State) -> Body:
    data = await body(request, optional=True)
    reason = data.get("reason") or "failed"
    if not isinstance(reason, str):
        raise LoyaltyInvalid("reason must be text")
    return await payments.fail_payment(services(state), payment_id, reason)


@post(
    "/payments/{payment_id:str}/award",
    status_code=200,
    tags=["payments"],
    summary="Replay the award for a member linked after completion (idempotent)",
)
async def award_payment(payment_id: str, state: State) -> Body:
    return await awards.award_payment(services(state), payment_id)


@post(
    "/refunds",
    status_code=201,
    tags=["payments"],
    summary="Refund a completed payment in full or in part; earned points are clawed back",
)
async def create_refund(request: Request[Any, Any, Any], state: State) -> Body:
    return await refunds.create_refund(services(state), await body(request))


@get("/refunds", tags=["payments"], summary="List refunds")
async def list_refunds(
    state: State, payment: str | None = None, limit: int = Limit, starting_after: str | None = None
) -> Body:
    return await refunds.list_refunds(
        services(state), payment=payment, limit=limit, starting_after=starting_after
    )


@get("/refunds/{refund_id:str}", tags=["payments"], summary="Get a refund")
async def get_refund(refund_id: str, state: State) -> Body:
    return await refunds.get_refund(services(state), refund_id)


# ---- reporting --------------------------------------------------------------------------------


@get(
    "/loyalty/transactions",
    tags=["loyalty"],
    summary="Points transactions (earn, redeem, release, clawback, restore, expire, adjust)",
)
async def list_points_transactions(
    state: State,
    account: str | None = None,
    program: str | None = None,
    payment: str | None = None,
    type: str | None = None,
    created_gte: str | None = Parameter(query="created[gte]", default=None),
    created_lte: str | None = Parameter(query="created[lte]", default=None),
    limit: int = Limit,
    starting_after: str | None = None,
) -> Body:
    return await reports.list_transactions(
        services(state),
        account=account,
        program=program,
        payment=payment,
        type=type,
        gte=created_gte,
        lte=created_lte,
        limit=limit,
        starting_after=starting_after,
    )


@get(
    "/loyalty/reconciliation",
    tags=["loyalty"],
    summary="Per payment: earned, clawed back, net, and anomaly flags",
)
async def reconciliation(
    state: State,
    program: str | None = None,
    account: str | None = None,
    created_gte: str | None = Parameter(query="created[gte]", default=None),
    created_lte: str | None = Parameter(query="created[lte]", default=None),
    anomalies_only: bool = False,
    limit: int = Limit,
    starting_after: str | None = None,
) -> Body:
    return await reports.reconciliation(
        services(state),
        program=program,
        account=account,
        gte=created_gte,
        lte=created_lte,
        anomalies_only=anomalies_only,
        limit=limit,
        starting_after=starting_after,
    )


ROUTES = [
    create_program,
    list_programs,
    get_program,
    update_program,
    simulate_earning,
    create_customer,
    list_customers,
    get_customer,
    create_account,
    list_accounts,
    get_account,
    link_account,
    adjust_account,
    create_reward,
    list_rewards,
    get_reward,
    create_redemption,
    get_redemption,
    cancel_redemption,
    create_payment,
    get_payment,
    complete_payment,
    fail_payment,
    award_payment,
    create_refund,
    list_refunds,
    get_refund,
    list_points_transactions,
    reconciliation,
]
