"""One declaration per native route: the router and the OpenAPI document are
both built from it, so the document cannot drift from what is served. Each
route module declares its endpoints beside its handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .auth import Scope
from .errors import Handler
from .params import Param


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link: where a value in a reply fills a parameter of another
    route, so clients (and fuzzers) can follow real ids instead of guessing."""

    name: str
    target: Handler  # its route's operationId is the handler's name
    parameters: tuple[tuple[str, str], ...]  # (parameter, runtime expression)


@dataclass(frozen=True, slots=True)
class Message:
    """One kind of server-sent event on a stream: its ``event`` names, an
    ``id`` (the global position), and ``data``, one line of JSON shaped as the
    Struct ``data``. ``payload_at`` is the path in that JSON to the recorded
    event (its ``type`` and stored ``data``), so each type's payload shape is
    documented too; None when it holds no recorded event."""

    events: tuple[str, ...]
    data: type[Any]
    payload_at: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    description: str
    body: type[Any] | None = None  # a wire Struct, encoded as JSON
    media: str = "application/json"
    # A schema for bodies that are not a Struct (CSV, arbitrary JSON).
    schema: dict[str, Any] | None = None
    links: tuple[Link, ...] = ()
    # A stream's messages (text/event-stream), each checked on its own.
    messages: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    scope: Scope | None  # None: no token needed
    replies: tuple[Reply, ...]
    params: tuple[Param, ...] = ()
    body: type[Any] | None = None  # the JSON body's Struct
    body_schema: dict[str, Any] | None = None  # or any JSON: a schema of its own
    body_required: bool = True
    errors: tuple[int, ...] = field(default=())  # the 4xx it can answer
