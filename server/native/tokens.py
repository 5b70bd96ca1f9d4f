"""``/v1/tokens``: the API tokens, listed without their secrets, and revoked.
For admin tokens only; one restricted to a team sees and revokes its team's."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from ..http import params
from ..http.access import caller
from ..http.auth import ADMIN
from ..http.endpoints import Endpoint, Reply
from ..http.errors import ApiError
from ..http.keys import STORE
from ..http.params import Param
from ..http.replies import json
from ..render import wire
from ..render.times import iso_ms, iso_ms_or_none


async def list_tokens(request: web.Request) -> web.Response:
    who = await caller(request, ADMIN)
    params.refuse_unknown(request.query, ())
    listed = [
        wire.Token(
            id=token.id,
            scopes=sorted(token.scopes),
            team=token.team_id,
            label=token.label,
            created_at=iso_ms(token.created_at),
            last_used_at=iso_ms_or_none(token.last_used_at),
        )
        for token in await request.app[STORE].list_tokens()
        if who.sees(token.team_id)
    ]
    return json(wire.TokenList(tokens=listed))


async def revoke_token(request: web.Request) -> web.Response:
    who = await caller(request, ADMIN)
    params.refuse_unknown(request.query, ())
    token_id = request.match_info["id"]
    store = request.app[STORE]
    known = {token.id: token for token in await store.list_tokens()}
    found = known.get(token_id)
    # Another team's token is answered exactly like a missing one.
    if found is None or not who.sees(found.team_id) or not await store.revoke_token(token_id):
        raise ApiError(404, "not_found", f"no token {token_id!r}", field="id")
    return json(wire.Revoked(id=token_id, revoked=True))


LIST_TOKENS: Final = Endpoint(
    "GET",
    "/v1/tokens",
    list_tokens,
    "The API tokens not revoked, oldest first: never their secrets",
    ADMIN,
    (Reply(200, "the tokens", wire.TokenList),),
)
REVOKE_TOKEN: Final = Endpoint(
    "DELETE",
    "/v1/tokens/{id}",
    revoke_token,
    "Revoke a token: every server on the file refuses it from the next request",
    ADMIN,
    (Reply(200, "revoked", wire.Revoked),),
    params=(Param("id", "the token's id", {"type": "string", "minLength": 1}, "path", True),),
    errors=(404,),
)
