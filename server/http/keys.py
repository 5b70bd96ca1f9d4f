"""What handlers find on the app, under typed keys. Everything lives on the
app object, so two apps in one process never share state."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Final

from aiohttp import web

from eventstore import EventStore, Subscription
from eventstore.recent import RecentlyUsed
from projections import ViewReader

from ..render.masking import Masker
from .auth import Authenticator
from .settings import Settings

SETTINGS: Final = web.AppKey("settings", Settings)
STORE: Final = web.AppKey("store", EventStore)
VIEWS: Final = web.AppKey("views", ViewReader)
AUTH: Final = web.AppKey("auth", Authenticator)
MASKER: Final = web.AppKey("masker", Masker)
# The subscriptions of open event streams, ended first on shutdown so that
# streams close cleanly instead of being cancelled.
STREAMS: Final = web.AppKey[set[Subscription]]("streams")
# Messages of /v1/stream by position: each event is encoded once, not once per subscriber.
FRAMES: Final = web.AppKey[RecentlyUsed[int, bytes]]("frames")
# Where an answer about a long execution is built and encoded (see ``replies``).
RENDERING: Final = web.AppKey("rendering", ThreadPoolExecutor)
# The OpenAPI document, encoded once by the app factory.
OPENAPI: Final = web.AppKey("openapi", bytes)
