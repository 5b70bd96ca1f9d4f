"""``/v1/workflows/{workflow_id}/webhook`` creates a trigger: a new random
hash for the workflow; ``/v1/webhooks/{hash}`` fires it (``service.webhooks``).
A workflow keeps every webhook made for it until one is revoked: the list
(``/v1/workflows/{workflow_id}/webhooks``) shows their ids and creation
times, never their hashes, and ``DELETE /v1/webhooks/{id}`` revokes one."""

from __future__ import annotations

import secrets
from typing import Final

from aiohttp import web

from eventstore.credentials import public_id

from ..http import params
from ..http.access import caller
from ..http.auth import WRITE
from ..http.endpoints import Endpoint, Link, Reply
from ..http.errors import ApiError
from ..http.keys import STORE
from ..http.params import Param
from ..http.replies import json
from ..render import bodies, wire
from ..render.times import iso_ms
from ..service.webhooks import trigger

HASH_BYTES: Final = 24  # 192 bits


async def create_webhook(request: web.Request) -> web.Response:
    who = await caller(request, WRITE)
    workflow_id = _workflow_id(request)
    secret = secrets.token_hex(HASH_BYTES)
    webhook_id = await request.app[STORE].add_webhook(secret, workflow_id, who.team_id)
    created = wire.WebhookCreated(
        id=webhook_id, workflow_id=workflow_id, hash=secret, url=f"/v1/webhooks/{secret}"
    )
    return json(created, 201)


async def list_webhooks(request: web.Request) -> web.Response:
    who = await caller(request, WRITE)
    params.refuse_unknown(request.query, ())
    found = await request.app[STORE].list_webhooks(_workflow_id(request))
    listed = [
        wire.Webhook(id=hook.id, workflow_id=hook.workflow_id, created_at=iso_ms(hook.created_at))
        for hook in found
        if who.sees(hook.team_id)
    ]
    return json(wire.WebhookList(webhooks=listed))


async def revoke_webhook(request: web.Request) -> web.Response:
    who = await caller(request, WRITE)
    params.refuse_unknown(request.query, ())
    # The trigger's path, so the path segment is named as the trigger names
    # it; here it is the webhook's id, or its hash, which holds the id.
    named = request.match_info["hash"]
    webhook_id = public_id(named) if len(named) == 2 * HASH_BYTES else named
    store = request.app[STORE]
    found = await store.webhook(webhook_id)
    # Another team's webhook is answered exactly like a missing one.
    if found is None or not who.sees(found.team_id) or not await store.revoke_webhook(webhook_id):
        raise ApiError(404, "not_found", f"no webhook {webhook_id!r}", field="id")
    return json(wire.Revoked(id=webhook_id, revoked=True))


def _workflow_id(request: web.Request) -> str:
    workflow_id = request.match_info["workflow_id"]
    if not 0 < len(workflow_id) <= bodies.MAX_WORKFLOW_ID:
        message = f"must be 1 to {bodies.MAX_WORKFLOW_ID} characters"
        raise ApiError(400, "invalid_length", message, field="workflow_id")
    return workflow_id


_WORKFLOW_ID: Final = Param(
    "workflow_id",
    "the workflow the webhook triggers",
    {"type": "string", "minLength": 1, "maxLength": bodies.MAX_WORKFLOW_ID},
    "path",
    required=True,
)


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
    params=(_WORKFLOW_ID,),
    errors=(400,),
)
LIST_WEBHOOKS: Final = Endpoint(
    "GET",
    "/v1/workflows/{workflow_id}/webhooks",
    list_webhooks,
    "The workflow's webhooks not revoked: ids and creation times, never the hashes",
    WRITE,
    (Reply(200, "the webhooks, oldest first", wire.WebhookList),),
    params=(_WORKFLOW_ID,),
    errors=(400,),
)
REVOKE_WEBHOOK: Final = Endpoint(
    "DELETE",
    "/v1/webhooks/{hash}",
    revoke_webhook,
    "Revoke a webhook: its hash triggers nothing from then on",
    WRITE,
    (Reply(200, "revoked", wire.Revoked),),
    params=(
        Param(
            "hash",
            "the webhook's id, as its list shows it (its hash names it too)",
            {"type": "string", "minLength": 1},
            "path",
            True,
        ),
    ),
    errors=(400, 404),
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
