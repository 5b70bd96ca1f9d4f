"""What the server is configured with: one frozen ``Settings`` per app."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from eventstore.frozen import Frozen
from eventstore.limits import Limits, MiB

from ..render.masking import DEFAULT_MASKED_KEYS
from .connections import ConnectionLimits

DEFAULT_MAX_BODY: Final = 10 * 1024 * 1024


class Settings(Frozen, kw_only=True):
    max_body: int = DEFAULT_MAX_BODY  # bytes; larger bodies get 413
    # What the store accepts: events per request and per execution, bytes per
    # event and per execution, JSON depth (see ``eventstore.limits``).
    limits: Limits = Limits()
    # Connections: the head and body deadlines, keep-alive, how many at once,
    # header size and count (see ``http.connections``).
    connections: ConnectionLimits = ConnectionLimits()
    # Seconds a write waits while other processes write the file; then 503 storage_busy.
    lock_timeout: float = 10.0
    # Exports mask the values under these keys, at any depth, in any case.
    masked_keys: tuple[str, ...] = tuple(sorted(DEFAULT_MASKED_KEYS))
    env_token: str | None = None  # accepted as an admin token, never stored
    heartbeat: float = 15.0  # seconds between comments on a quiet event stream
    # A stream whose client reads nothing for this long is closed.
    write_timeout: float = 30.0
    stream_buffer: int = 10_000  # events a subscriber may lag before it re-reads the file
    stream_buffer_bytes: int = 16 * MiB  # and bytes of their payloads
    # /v1/stream encodes each event once for all its subscribers: this many bytes of them kept.
    frame_cache_bytes: int = 16 * MiB
    # The dialect (a name in ``server.dialects.DIALECTS``) served at the root
    # instead of under its prefix, for clients that cannot be given a prefix.
    root_dialect: str | None = None
    # Each dialect's own settings, by dialect name: ``{"snake": {"utc_offset":
    # "-05:30"}}``. A dialect's record says which it takes; the rest keep its defaults.
    dialects: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
