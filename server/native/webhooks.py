"""``/v1/workflows/{workflow_id}/webhook`` creates a trigger: a new random
hash for the workflow; ``/v1/webhooks/{hash}`` fires it (``service.webhooks``)."""

from __future__ import annotations

import secrets
from typing import Final

from aiohttp import web

from ..http.access import caller
from ..http.auth import WRITE
from ..http.endpoints import Endpoint, Link, Reply
from ..http.errors import ApiError
from ..http.keys import STORE
from ..http.params import Param
from ..http.replies import json
from ..render import bodies, wire
from ..service.webhooks import trigger

HASH_BYTES: Final = 24  # 192 bits


async def create_webhook(request: web.Request) -> web.Response:
    who = await caller(request, WRITE)
    workflow_id = request.match_info["workflow_id"]
    if not 0 < len(workflow_id) <= bodies.MAX_WORKFLOW_ID:
        message = f"must be 1 to {bodies.MAX_WORKFLOW_ID} characters"
        raise ApiError(400, "invalid_length", message, field="workflow_id")
    secret = secrets.token_hex(HASH_BYTES)
    await request.app[STORE].add_webhook(secret, workflow_id, who.team_id)
    created = wire.WebhookCreated(
        workflow_id=workflow_id, hash=secret, url=f"/v1/webhooks/{secret}"
    )
    return json(created, 201)


CREATE_WEBHOOK: Final = Endpoint(
    "POST",
    "/v1/workflows/{workflow_id}/webhook",
    create_webhook,
    "Create a webhook trigger for a workflow: a new random hash",
    WRITE,
    (
        Reply(
            201,
            "the hash, shown once",
            wire.WebhookCreated,
            links=(Link("trigger", trigger, (("hash", "$response.body#/hash"),)),),
        ),
    ),
    params=(
        Param(
            "workflow_id",
            "the workflow the webhook triggers",
            {"type": "string", "minLength": 1, "maxLength": bodies.MAX_WORKFLOW_ID},
            "path",
            required=True,
        ),
    ),
    errors=(400,),
)
TRIGGER: Final = Endpoint(
    "POST",
    "/v1/webhooks/{hash}",
    trigger,
    "Trigger: queue an execution with the JSON body as its input (the hash authenticates)",
    None,
    (Reply(202, "queued", wire.WebhookAccepted),),
    params=(Param("hash", "the webhook's hash", {"type": "string", "minLength": 1}, "path", True),),
    body_schema={},  # any JSON
    body_required=False,
    errors=(400, 404, 413),
)
