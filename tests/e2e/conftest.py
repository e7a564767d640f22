"""End-to-end fixtures: a real ``tally serve`` process on each store, shared by a test module.

``e2e_database`` is a fresh database per module on each store (SQLite copied from the migrated
template; PostgreSQL created and dropped per module, failing instead of skipping under
``CI=true``). ``server`` runs ``tally serve`` on it without a master key (loopback only). Tests
share the server, so each one uses its own ledgers, balances and references.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from blnk_sdk import Blnk

from .. import support
from .blnk_support import sdk_client
from .harness import RUNNING, TallyServer, run_server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def e2e_database(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database for one test module, on each store."""
    if request.param == "sqlite":
        yield support.fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("e2e-sqlite"))
        return
    if not support.postgres_reachable():
        message = f"PostgreSQL is not reachable at {support.PG_ADMIN_URL}"
        if support.IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    url = support.create_postgres_database("e2e")
    try:
        yield url
    finally:
        support.drop_postgres_database(url)


@pytest.fixture(scope="module")
def server(e2e_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TallyServer]:
    """``tally serve`` without a master key on a free loopback port."""
    with run_server(e2e_database, tmp_path_factory.mktemp("e2e-server")) as running:
        yield running


@pytest.fixture(scope="module")
def base_url(server: TallyServer) -> str:
    return server.base_url


@pytest.fixture
def unique() -> str:
    """A short random tag for names and references, so tests never share data."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def blnk(base_url: str) -> Iterator[Blnk]:
    """Blnk's official Python SDK, pointed at the server, with no API key (as upstream e2e)."""
    client = sdk_client(base_url)
    yield client
    client.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, Any, None]:
    """A failing test shows the logs of the servers running at the time."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and RUNNING:
        for index, running in enumerate(RUNNING):
            report.sections.append(
                (f"tally serve log ({running.base_url}, #{index})", running.log())
            )
