"""Connections: how many at once, how long a request's head may take, and
malformed requests answered in the one JSON error shape, never echoed.

aiohttp reads a request's head with no deadline of its own and accepts
connections until the process runs out of descriptors, so a few hundred
clients trickling their headers starve everyone else. ``GuardedHandler``
is aiohttp's protocol with:

- a deadline on a connection's first request head (later ones have the
  keep-alive timeout, which aiohttp applies while it waits for a head);
- a cap on open connections: at the cap, a new connection evicts the oldest
  one that has no request under way (a slow client, or an idle one), and is
  refused with a 503 only when every connection is busy;
- refusals of malformed requests (bad request line, headers too long or too
  many) in the one JSON shape, with no part of the request in the answer or
  the log.

``GuardedSite`` listens on a TCP port with these handlers; with ``reuse_port``
it shares the port with other processes that do the same (``serve --workers``).
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any, Final

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from eventstore.frozen import Frozen

from .errors import ErrorBody, ErrorObject
from .logs import Throttled

log: Final = logging.getLogger("execstore.server")


class ConnectionLimits(Frozen, kw_only=True):
    header_timeout: float = 10.0  # seconds for a connection's first request head
    body_timeout: float = 30.0  # seconds to read a request's whole body
    keepalive_timeout: float = 75.0  # seconds an idle connection is kept
    max_connections: int = 1000  # open at once
    max_header_bytes: int = 8190  # one header line, name and value
    max_headers: int = 64  # header lines in one request


def refusal(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer in the one error shape, for a connection that
    is closed right after: written where no request object exists yet."""
    body = msgspec.json.encode(ErrorBody(ErrorObject(code=code, message=message)))
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


# How long a refused connection is read (and what arrives dropped) before it
# closes: closing with unread data would reset it, and lose the answer.
_LINGER: Final = 1.0


def _answer_and_close(transport: asyncio.BaseTransport, answer: bytes) -> None:
    assert isinstance(transport, asyncio.Transport)
    transport.write(answer)
    if transport.can_write_eof():
        transport.write_eof()
    asyncio.get_running_loop().call_later(_LINGER, transport.close)


class GuardedHandler(web.RequestHandler):
    __slots__ = ("_guard", "_head_deadline", "_opened_at", "_refusals", "_refused", "_server")

    def __init__(
        self, server: web.Server, guard: ConnectionLimits, refusals: Throttled, **kwargs: Any
    ) -> None:
        super().__init__(
            server,
            keepalive_timeout=guard.keepalive_timeout,
            max_line_size=guard.max_header_bytes,
            max_field_size=guard.max_header_bytes,
            max_headers=guard.max_headers,
            **kwargs,
        )
        self._server = server
        self._guard = guard
        self._refusals = refusals
        self._head_deadline: asyncio.TimerHandle | None = None
        self._opened_at = 0.0
        self._refused = False

    @property
    def busy(self) -> bool:
        """Whether a request is under way on this connection."""
        return self._current_request is not None

    @property
    def closing(self) -> bool:
        """Whether this connection is on its way out: refused, or closed."""
        transport = self.transport
        return self._refused or transport is None or transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._make_room():
            self._refused = True  # never handed to aiohttp: what arrives is dropped
            answer = refusal(503, "too_many_connections", "the server is at capacity")
            _answer_and_close(transport, answer)
            return
        super().connection_made(transport)
        loop = asyncio.get_running_loop()
        self._opened_at = loop.time()
        self._head_deadline = loop.call_later(self._guard.header_timeout, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._head_deadline is not None and (self._messages or self.busy):
            self._head_deadline.cancel()
            self._head_deadline = None

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _make_room(self) -> bool:
        """Whether this connection may open: below the cap, or by evicting the
        oldest connection that has no request under way."""
        # Evicted and timed-out connections stay listed until their close completes.
        live = [c for c in self._server.connections if not getattr(c, "closing", False)]
        if len(live) < self._guard.max_connections:
            return True
        idle = [c for c in live if isinstance(c, GuardedHandler) and not c.busy]
        if not idle:
            return False
        min(idle, key=lambda c: c._opened_at)._refuse(
            503, "evicted", "the server is at capacity and this connection sent no request"
        )
        return True

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.busy and not self._messages:
            self._refuse(408, "header_timeout", "the request's head took too long")

    def _refuse(self, status: int, code: str, message: str) -> None:
        transport = self.transport
        if self._refused or transport is None or transport.is_closing():
            return
        self._refused = True
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        _answer_and_close(transport, refusal(status, code, message))

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse or handle: the one
        JSON shape, and one log line that holds nothing the client sent."""
        if isinstance(exc, LineTooLong) or status == 431:
            status, code, text = 431, "headers_too_large", "a header line or the head is too long"
        elif _too_many_headers(exc):
            status, code, text = 431, "too_many_headers", "the request has too many header lines"
        elif 400 <= status < 500:
            code, text = "malformed_request", "the request is not valid HTTP/1.1"
        else:
            code, text = "internal", "an unexpected error; see the log"
        kind = type(exc).__name__ if exc is not None else "error"
        self._refusals.warning("refused a request from %s: %s (%s)", request.remote, code, kind)
        body = msgspec.json.encode(ErrorBody(ErrorObject(code=code, message=text)))
        response = web.Response(status=status, body=body, content_type="application/json")
        response.force_close()
        return response


def _too_many_headers(exc: BaseException | None) -> bool:
    # aiohttp tells this case apart only by its message, in both its parsers.
    return isinstance(exc, BadHttpMessage) and "Too many headers" in exc.message


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are ``GuardedHandler``s."""

    __slots__ = ("_guard", "_handler_args", "_host", "_port", "_refusals", "_reuse_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionLimits,
        *,
        reuse_port: bool = False,
        **handler_args: Any,
    ) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self._reuse_port = reuse_port
        self._guard = guard
        self._handler_args = handler_args
        self._refusals = Throttled(log)

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()

        def handler() -> GuardedHandler:
            return GuardedHandler(
                server, self._guard, self._refusals, loop=loop, **self._handler_args
            )

        self._server = await loop.create_server(
            handler,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=self._reuse_port,
        )
