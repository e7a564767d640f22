"""Shared fixtures. ``store_url`` is parametrized over SQLite and PostgreSQL.

PostgreSQL tests use a real server (``TALLY_TEST_PG_URL``, default the local one). Outside CI they
are skipped when it is unreachable; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tally.api.app import create_app
from tally.core.clock import FakeClock
from tally.services import Services
from tally.settings import Settings
from tally.store.database import Database

from . import support


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return support.create_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not support.postgres_reachable():
        message = f"PostgreSQL is not reachable at {support.PG_ADMIN_URL}"
        if support.IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    url = support.create_postgres_database("s")
    yield url
    support.drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> Iterator[str]:
    """A migrated, empty database URL on each store."""
    if request.param == "sqlite":
        yield support.fresh_sqlite(sqlite_template, tmp_path)
        return
    url = request.getfixturevalue("postgres_url")
    import asyncio

    async def reset() -> None:
        db = Database(url)
        await support.reset_postgres(db)
        await db.dispose()

    asyncio.run(reset())
    yield url


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[Database]:
    database = Database(store_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def services(store_url: str) -> AsyncIterator[Services]:
    """Started services on a fresh database (real clock), with no background workers."""
    settings = Settings(database_url=store_url, auto_migrate=False, run_workers=False)
    svc = Services.build(settings)
    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture
def app_settings(store_url: str) -> Settings:
    return Settings(database_url=store_url, auto_migrate=False, run_workers=False)


@pytest.fixture
async def client(app_settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """An HTTP client talking to the full ASGI app (middleware included) in-process.

    The app's own lifespan starts and stops its services on the client's event loop.
    """
    app = create_app(Services.build(app_settings))
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:5001") as test_client:
        yield test_client
