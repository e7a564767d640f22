"""An operator signs in and reads the books in the dashboard."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import MASTER_KEY


def _seed_loyalty_flow(base: str) -> str:
    headers = {"X-Blnk-Key": MASTER_KEY}
    with httpx.Client(base_url=base, headers=headers) as http:
        ledger = http.post("/ledgers", json={"name": "Customer Loyalty Points Ledger"}).json()
        alice = http.post(
            "/balances",
            json={
                "ledger_id": ledger["ledger_id"],
                "currency": "POINTS",
                "meta_data": {"customer_name": "Alice"},
            },
        ).json()
        award = http.post(
            "/transactions",
            json={
                "amount": 100,
                "precision": 1,
                "reference": "purchase-001",
                "description": "Points for purchase",
                "currency": "POINTS",
                "source": "@Store",
                "destination": alice["balance_id"],
                "inflight": True,
            },
        ).json()
        committed = http.put(
            f"/transactions/inflight/{award['transaction_id']}", json={"status": "commit"}
        )
        assert committed.status_code == 200, committed.text
    return str(alice["balance_id"])


def test_operator_signs_in_and_sees_alices_points(server: str, browser: Any) -> None:
    alice = _seed_loyalty_flow(server)
    page = browser.new_page()
    page.goto(f"{server}/dashboard")
    assert page.url.endswith("/dashboard/login"), "an anonymous visitor is sent to sign in"

    page.fill("input[name=key]", "not-the-key")
    page.click('button:has-text("Sign in")')
    assert "not the master key" in page.locator("p.bad").inner_text()

    page.fill("input[name=key]", MASTER_KEY)
    page.click('button:has-text("Sign in")')
    page.wait_for_url(f"{server}/dashboard")
    assert page.inner_text("[data-count=balances]") == "2"  # Alice and @Store
    assert "sums to zero" in page.inner_text("table")

    page.click("header >> text=Balances")
    page.click(f"text={alice}")
    assert page.inner_text("[data-field=balance]") == "100"
    rows = page.inner_text("table >> nth=1")
    assert "purchase-001" in rows and "APPLIED" in rows and "INFLIGHT" in rows
    page.close()


def test_dashboard_is_closed_without_a_session(server: str) -> None:
    response = httpx.get(f"{server}/dashboard/balances", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
