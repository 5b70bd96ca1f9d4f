"""The native API under ``/v1``: every route declared once, beside its
handler, and listed here in the order the router tries them. The app factory
mounts them and ``http.openapi`` documents them from these same declarations.

Order matters where paths overlap: ``/v1/executions/export`` comes before
``/v1/executions/{id}``.
"""

from __future__ import annotations

from typing import Final

from . import executions, export, meta, streams, tokens, webhooks

ENDPOINTS: Final = (
    meta.HEALTH,
    meta.OPENAPI_DOCUMENT,
    executions.CREATE,
    executions.LIST,
    export.EXPORT,
    executions.DETAIL,
    executions.HISTORY,
    executions.APPEND,
    executions.CANCEL_EXECUTION,
    streams.EXECUTION_STREAM,
    streams.STORE_STREAM,
    webhooks.CREATE_WEBHOOK,
    webhooks.LIST_WEBHOOKS,
    webhooks.TRIGGER,
    webhooks.REVOKE_WEBHOOK,
    tokens.LIST_TOKENS,
    tokens.REVOKE_TOKEN,
)
