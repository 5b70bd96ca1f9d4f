"""A small server-sent-events reader for tests, over aiohttp's client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse


@dataclass(frozen=True)
class Message:
    event: str
    id: int | None
    data: Any  # decoded JSON; None for a comment
    comment: str | None = None


async def messages(response: ClientResponse) -> AsyncIterator[Message]:
    """Each message (and each comment) in arrival order, until the stream ends."""
    event: str = "message"
    id: int | None = None
    data: list[str] = []
    while True:
        raw = await response.content.readline()
        if not raw:
            return
        line = raw.decode().rstrip("\n")
        if line == "":
            if data:
                yield Message(event, id, json.loads("\n".join(data)))
            event, id, data = "message", None, []
        elif line.startswith(":"):
            yield Message("", None, None, comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "id":
                id = int(value)
            elif name == "data":
                data.append(value)


async def take(response: ClientResponse, count: int) -> list[Message]:
    """The next ``count`` messages that are events (comments skipped)."""
    found: list[Message] = []
    async for message in messages(response):
        if message.comment is None:
            found.append(message)
            if len(found) == count:
                break
    return found
