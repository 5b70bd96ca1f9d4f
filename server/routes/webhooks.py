"""Webhook triggers: a workflow gets an unguessable hash; a POST to it with
any JSON body queues an execution of that workflow with the body as input.

The hash is the credential, so the trigger route needs no token. The file
keeps only the hash's digest, looked up by digest (see
``eventstore.credentials``): no timing depends on how much of a guess was right.
"""

from __future__ import annotations

import secrets
from typing import Final

import msgspec
from aiohttp import web

from eventstore import ExecutionQueued

from .. import wire
from ..auth import WRITE
from ..context import STORE
from ..decoding import body_bytes, decode_json
from ..errors import ApiError
from .responses import caller, json

HASH_BYTES: Final = 24  # 192 bits
_ANY_JSON: Final = msgspec.json.Decoder(msgspec.Raw)


async def create_webhook(request: web.Request) -> web.Response:
    who = await caller(request, WRITE)
    workflow_id = request.match_info["workflow_id"]
    if not 0 < len(workflow_id) <= wire.MAX_WORKFLOW_ID:
        message = f"must be 1 to {wire.MAX_WORKFLOW_ID} characters"
        raise ApiError(400, "invalid_length", message, field="workflow_id")
    secret = secrets.token_hex(HASH_BYTES)
    await request.app[STORE].add_webhook(secret, workflow_id, who.team_id)
    created = wire.WebhookCreated(
        workflow_id=workflow_id, hash=secret, url=f"/v1/webhooks/{secret}"
    )
    return json(created, 201)


async def trigger(request: web.Request) -> web.Response:
    store = request.app[STORE]
    hook = await store.find_webhook(request.match_info["hash"])
    if hook is None:
        raise ApiError(404, "not_found", "no webhook with this hash", field="hash")
    body = await body_bytes(request)
    # Validated once; the bytes themselves become the input, never re-encoded.
    data = decode_json(_ANY_JSON, body or b"null")
    queued = ExecutionQueued(
        workflow_id=hook.workflow_id, trigger="webhook", input=data, team_id=hook.team_id
    )
    created = await store.create_execution(queued)
    accepted = wire.WebhookAccepted(
        success=True,
        execution_id=created.execution_id,
        message="Workflow execution started",
        captured=False,
    )
    return json(accepted, 202)
