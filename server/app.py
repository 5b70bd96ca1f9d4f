"""The aiohttp application factory. State lives on the app under typed keys;
the store opens and closes with the app through a cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from eventstore import EventStore
from projections import SummaryHook

STORE: web.AppKey[EventStore] = web.AppKey("store", EventStore)


def create_app(db_path: str | Path) -> web.Application:
    app = web.Application()

    async def store_context(app: web.Application) -> AsyncIterator[None]:
        async with EventStore(db_path, hook=SummaryHook()) as store:
            app[STORE] = store
            yield

    app.cleanup_ctx.append(store_context)
    app.router.add_get("/v1/health", health)
    return app


async def health(request: web.Request) -> web.Response:
    store = request.app[STORE]
    return web.json_response({"status": "ok", "head": store.head})
