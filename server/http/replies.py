"""JSON answers: every handler's body goes out through ``json``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec
from aiohttp import web

_encoder: Final = msgspec.json.Encoder()


def json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encoder.encode(value), status=status, content_type="application/json", headers=headers
    )
