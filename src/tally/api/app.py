"""The HTTP application: Litestar routes + Tally's middleware, built from ``Services``.

``TallyApp`` is Litestar with one addition: the hot ledger routes (``POST /transactions``,
``PUT /transactions/inflight/{id}``, ``GET /balances/{id}``) are answered by ``api.fastpath`` in raw
ASGI (the same answers, a fraction of the CPU); everything else, and whatever the fast path leaves
to the framework, goes through Litestar as usual.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from tally import __version__
from tally.services import Services
from tally.settings import Settings

from .errors import EXCEPTION_HANDLERS
from .fastpath import FastPath
from .middleware import TallyMiddleware
from .routes import ledger, system, transactions

ROUTE_MODULES: list[Any] = [system, ledger, transactions]


def _optional_routes() -> list[Any]:
    """Route modules added by other capabilities register here when present."""
    import importlib

    found = []
    for name in ("listing", "events", "loyalty", "offers", "cards", "monitors", "dashboard"):
        try:
            module = importlib.import_module(f"tally.api.routes.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tally.api.routes.{name}":
                raise
            continue
        found.append(module)
    return found


class TallyApp(Litestar):
    """Litestar, with the hot ledger routes answered by ``fast_path`` when one is set."""

    fast_path: FastPath | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        fast = self.fast_path
        if fast is not None:
            route = fast.route(scope)
            if route is not None:
                await fast.serve(route, scope, receive, send)
                return
        await Litestar.__call__(self, scope, receive, send)

    async def framework(self, scope: Any, receive: Any, send: Any) -> None:
        """Litestar alone (the fast path's fallback)."""
        await Litestar.__call__(self, scope, receive, send)


def create_app(services: Services, *, fast_path: bool = True) -> TallyApp:
    """The app; ``fast_path=False`` leaves the hot routes to Litestar too (the tests compare)."""
    handlers = [h for module in ROUTE_MODULES + _optional_routes() for h in module.ROUTES]
    middleware_holder: dict[str, TallyMiddleware] = {}

    def tally_middleware(app: Any) -> Any:
        instance = TallyMiddleware(app, services)
        middleware_holder["instance"] = instance
        return instance

    services.extras.setdefault("on_key_revoked", []).append(
        lambda: (
            middleware_holder["instance"].forget_cached_keys()
            if "instance" in middleware_holder
            else None
        )
    )

    async def on_startup() -> None:
        await services.start()

    async def on_shutdown() -> None:
        await services.stop()

    app = TallyApp(
        route_handlers=handlers,
        middleware=[tally_middleware],
        exception_handlers=EXCEPTION_HANDLERS,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        state=State({"services": services}),
        request_max_body_size=services.settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Tally",
            version=__version__,
            description="Ledger-backed loyalty and card rewards with a Blnk-compatible ledger API.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        debug=False,
        logging_config=None,  # logging is the process's (``tally.logs``): JSON lines throughout
    )
    if fast_path:
        app.fast_path = FastPath(services, app.framework)
    return app


def app_from_env() -> TallyApp:
    """ASGI factory for ``uvicorn --factory tally.api.app:app_from_env``."""
    return create_app(Services.build(Settings.from_env()))
