"""Webhook triggers: a POST to a workflow's hash, with any JSON body, queues
an execution of that workflow with the body as its input.

The hash is the credential, so the trigger needs no token. The file keeps
only the hash's digest, looked up by digest (see ``eventstore.credentials``):
no timing depends on how much of a guess was right. The native API and the
snake dialect answer a trigger alike, so both serve this one handler.
"""

from __future__ import annotations

from typing import Final

import msgspec
from aiohttp import web

from eventstore import ExecutionQueued

from ..http.decoding import body_bytes, body_fields, decode_json, off_the_loop
from ..http.errors import ApiError
from ..http.keys import STORE
from ..http.replies import json
from ..render import wire

_ANY_JSON: Final = msgspec.json.Decoder(msgspec.Raw)


async def trigger(request: web.Request) -> web.Response:
    store = request.app[STORE]
    hook = await store.find_webhook(request.match_info["hash"])
    if hook is None:
        raise ApiError(404, "not_found", "no webhook with this hash", field="hash")
    body = await body_bytes(request, envelope=0)  # the body is the input
    # Validated once; the bytes themselves become the input, never re-encoded.
    data = await off_the_loop(len(body), decode_json, _ANY_JSON, body or b"null")
    queued = ExecutionQueued(
        workflow_id=hook.workflow_id, trigger="webhook", input=data, team_id=hook.team_id
    )
    with body_fields("queued.input", "body"):  # the body is the input
        created = await store.create_execution(queued)
    accepted = wire.WebhookAccepted(
        success=True,
        execution_id=created.execution_id,
        message="Workflow execution started",
        captured=False,
    )
    return json(accepted, 202)
