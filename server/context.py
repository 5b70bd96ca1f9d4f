"""What handlers find on the app: typed keys and the server's settings.
Everything lives on the app object, so two apps in one process never share state."""

from __future__ import annotations

from typing import Final

import msgspec
from aiohttp import web

from eventstore import EventStore, Subscription
from eventstore.recent import RecentlyUsed
from projections import ViewReader

from .auth import Authenticator
from .masking import DEFAULT_MASKED_KEYS, Masker

DEFAULT_MAX_BODY: Final = 10 * 1024 * 1024


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    max_body: int = DEFAULT_MAX_BODY  # bytes; larger bodies get 413
    # Exports mask the values under these keys, at any depth, in any case.
    masked_keys: tuple[str, ...] = tuple(sorted(DEFAULT_MASKED_KEYS))
    env_token: str | None = None  # accepted as an admin token, never stored
    heartbeat: float = 15.0  # seconds between comments on a quiet event stream
    # A stream whose client reads nothing for this long is closed.
    write_timeout: float = 30.0
    stream_buffer: int = 10_000  # events a subscriber may lag before it re-reads the file
    # The snake dialect prints times at this offset from UTC, as its clients expect.
    snake_utc_offset: str = "+09:00"
    # The actions dialect prints ``created_at`` in this IANA time zone, as its document does.
    actions_time_zone: str = "America/New_York"
    # The dialect (a name in ``server.dialects.DIALECTS``) served at the root
    # instead of under its prefix, for clients that cannot be given a prefix.
    root_dialect: str | None = None


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
