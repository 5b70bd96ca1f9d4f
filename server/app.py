"""The aiohttp application factory: the shared plumbing, the native API and
every dialect on one app. State lives on the app under typed keys
(``http.keys``); the store, its views and the authenticator open and close
with the app through one cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import msgspec
from aiohttp import web

from eventstore import EventStore, Subscription
from eventstore.recent import RecentlyUsed
from projections import SummaryHook, ViewReader

from .dialects import mount_dialects
from .http.auth import ADMIN, Authenticator, new_secret
from .http.errors import error_middleware
from .http.keys import AUTH, FRAMES, MASKER, OPENAPI, RENDERING, SETTINGS, STORE, STREAMS, VIEWS
from .http.openapi import openapi_document
from .http.routing import mount
from .http.settings import Settings
from .native import ENDPOINTS
from .render.masking import Masker
from .render.payloads import documented

TITLE = "execstore"
VERSION = "0.1.0"


def create_app(
    db_path: str | Path,
    settings: Settings | None = None,
    *,
    on_first_token: Callable[[str], None] | None = None,
) -> web.Application:
    """The app over the SQLite file at ``db_path``.

    On its first start with no token in the file (and no ``env_token``), an
    admin token is created and handed to ``on_first_token``, once: the file
    keeps only its digest.
    """
    settings = settings or Settings()
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body)
    app[SETTINGS] = settings
    app[MASKER] = Masker(settings.masked_keys)
    document = openapi_document(ENDPOINTS, title=TITLE, version=VERSION, components=documented)
    app[OPENAPI] = msgspec.json.encode(document)
    app[STREAMS] = set[Subscription]()
    app[FRAMES] = RecentlyUsed[int, bytes](4096, settings.frame_cache_bytes, len)
    app.cleanup_ctx.append(_rendering)
    app.cleanup_ctx.append(partial(_store, Path(db_path), on_first_token))
    app.on_shutdown.append(_end_streams)
    mount(app, ENDPOINTS)
    mount_dialects(app, settings.root_dialect, settings.dialects)
    return app


async def _store(
    db_path: Path, on_first_token: Callable[[str], None] | None, app: web.Application
) -> AsyncIterator[None]:
    """The store, its views and the authenticator, open while the app runs."""
    settings = app[SETTINGS]
    async with (
        EventStore(
            db_path,
            hook=SummaryHook(),
            limits=settings.limits,
            lock_timeout=settings.lock_timeout,
        ) as store,
        ViewReader(store) as views,
    ):
        app[STORE], app[VIEWS] = store, views
        app[AUTH] = Authenticator(store, settings.env_token)
        if not settings.env_token and not await store.has_tokens():
            secret = new_secret()
            await store.add_token(secret, frozenset({ADMIN}), label="first start")
            if on_first_token is not None:
                on_first_token(secret)
        yield


async def _rendering(app: web.Application) -> AsyncIterator[None]:
    # One thread: long executions are rendered one at a time, so their memory
    # is bounded by one as well.
    with ThreadPoolExecutor(1, "execstore-render") as executor:
        app[RENDERING] = executor
        yield


async def _end_streams(app: web.Application) -> None:
    # Before the server waits for its handlers: streams finish their last
    # write and close, instead of being cancelled mid-event.
    streams: set[Subscription] = app[STREAMS]
    for subscription in list(streams):
        subscription.end()
