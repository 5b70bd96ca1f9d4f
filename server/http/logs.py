"""Logs that hold no secret: every line the server writes goes through one
handler whose formatter removes bearer tokens, ``Authorization`` and
``X-N8N-API-KEY`` values, and ``access_token`` parameters, whoever logged
them (aiohttp's access and server loggers included) and wherever they appear
(a message, its arguments, a traceback).

Refusals of malformed requests and evicted connections come in floods when a
client misbehaves, so ``Throttled`` writes at most one line a second for
them, with how many it left out.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Final

_SECRETS: Final = re.compile(
    r"""(?ix)
    (?P<key> authorization | x-n8n-api-key | access_token ) (?P<sep> ["']?\s*[:=]\s*["']? )
        (?P<value> (?: bearer \s+ | basic \s+ )? [^\s"'&,;]+ )
    | (?P<scheme> bearer \s+ ) (?P<credential> [^\s"'&,;]+ )
    | \b es_ [A-Za-z0-9_-]{8,}
    """
)
MASK: Final = "***"


def redact(text: str) -> str:
    """``text`` with every credential it holds replaced by ``***``."""

    def masked(found: re.Match[str]) -> str:
        if found.group("key"):
            return found.group("key") + found.group("sep") + MASK
        if found.group("scheme"):
            return found.group("scheme") + MASK
        return "es_" + MASK

    return _SECRETS.sub(masked, text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(access_log: bool = False) -> None:
    """One handler on the root logger, to stderr, that redacts. Warnings and
    errors by default; aiohttp's access log too with ``access_log``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.INFO if access_log else logging.WARNING)


class Throttled:
    """At most one line a second on ``logger``; the lines left out are counted
    into the next one, so a flood costs one line a second, not one a request."""

    def __init__(self, logger: logging.Logger, interval: float = 1.0) -> None:
        self._logger = logger
        self._interval = interval
        self._next = 0.0
        self._skipped = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._skipped += 1
            return
        if self._skipped:
            message += f" (and {self._skipped} more like it in the last second)"
            self._skipped = 0
        self._next = now + self._interval
        self._logger.warning(message, *args)
