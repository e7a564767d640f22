"""Fixtures shared by the integration tests that drive the services on a ``FakeClock``.

``svc`` is the services on the test's store with no background workers (tests run workers by
hand) and loopback webhook URLs allowed; ``api`` is the whole app, middleware included, on the
test's own event loop. A module that needs other settings defines its own ``svc``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tally.api.app import create_app
from tally.core.clock import FakeClock
from tally.services import Services
from tally.settings import Settings


@pytest.fixture
async def svc(store_url: str, clock: FakeClock) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=store_url, auto_migrate=False, run_workers=False, allow_loopback_webhooks=True
    )
    services = Services.build(settings, clock=clock)
    await services.start()
    yield services
    await services.stop()


@pytest.fixture
async def api(svc: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(svc))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5001") as client:
        yield client
