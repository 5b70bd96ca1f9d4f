"""The OpenAPI 3.2 document, generated from the route declarations and the
wire Structs (msgspec writes their JSON Schemas).

3.2, not 3.1: only 3.2 can describe a stream's messages one by one (a
sequential media type's ``itemSchema``), so that a validator checks each
server-sent event: its name, its ``id``, and its ``data`` per event type.
Everything else in the document is as 3.1 has it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import msgspec

from ..render.payloads import payload_name
from .endpoints import Endpoint, Message, Reply
from .errors import ErrorBody
from .params import Param

_REF: Final = "#/components/schemas/{name}"
_ERRORS: Final = {
    400: "bad input: malformed JSON, a wrong type, an unknown parameter or event type,"
    " JSON nested deeper than the limit",
    401: "no token, or an unknown one",
    403: "the token lacks the scope, or names another team",
    404: "not found (or another team's)",
    405: "method not allowed",
    409: "conflict: stale expected_version, event_id re-sent with other content, finished",
    413: "body over the size limit, or more events, or a larger event, than the limits allow",
    422: "a lifecycle rule was broken, or the execution would outgrow its limits;"
    " error.rule names it",
}


def openapi_document(
    endpoints: Sequence[Endpoint],
    *,
    title: str,
    version: str,
    components: Callable[[str], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The document of ``endpoints``; ``components``, given the reference
    template, adds schemas the Structs cannot say (or says them better)."""
    types: set[type[Any]] = {ErrorBody}
    for endpoint in endpoints:
        types.update(r.body for r in endpoint.replies if r.body is not None)
        types.update(m.data for r in endpoint.replies for m in r.messages)
        if endpoint.body is not None:
            types.add(endpoint.body)
    ordered = sorted(types, key=lambda t: t.__name__)
    _, schemas = msgspec.json.schema_components(ordered, ref_template=_REF)
    if components is not None:
        schemas.update(components(_REF))
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.2.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "parameters": [_parameter(p) for p in endpoint.params],
        "responses": _responses(endpoint),
    }
    if endpoint.scope is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = f"Requires a token with the scope `{endpoint.scope}`."
    else:
        operation["security"] = []
    body = _body_schema(endpoint)
    if body is not None:
        operation["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def _body_schema(endpoint: Endpoint) -> dict[str, Any] | None:
    if endpoint.body is not None:
        return {"$ref": _REF.format(name=endpoint.body.__name__)}
    return endpoint.body_schema


def _parameter(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": param.where,
        "required": param.required,
        "description": param.description,
        "schema": param.schema,
    }


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for reply in endpoint.replies:
        entry = responses.setdefault(str(reply.status), {"description": "", "content": {}})
        entry["description"] = "; ".join(filter(None, (entry["description"], reply.description)))
        if reply.messages:
            entry["content"][reply.media] = {"itemSchema": _messages_schema(reply.messages)}
            continue
        schema = _reply_schema(reply)
        known = entry["content"].get(reply.media)
        if known is not None:  # two shapes for one status (a ref fits both): any of them
            schema = {"anyOf": [*known["schema"].get("anyOf", [known["schema"]]), schema]}
        entry["content"][reply.media] = {"schema": schema}
        for link in reply.links:
            entry.setdefault("links", {})[link.name] = {
                "operationId": link.target.__name__,
                "parameters": dict(link.parameters),
            }
    codes = set(endpoint.errors) | {405}
    if endpoint.scope is not None:
        codes |= {401, 403}
    error = {"$ref": _REF.format(name=ErrorBody.__name__)}
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": error}},
        }
    return responses


def _reply_schema(reply: Reply) -> dict[str, Any]:
    if reply.body is not None:
        return {"$ref": _REF.format(name=reply.body.__name__)}
    return reply.schema or {}


def _messages_schema(messages: Sequence[Message]) -> dict[str, Any]:
    """One server-sent event, as a validator parses it: ``event``, ``id``, and
    ``data`` holding JSON of the message's shape; one variant per event name."""
    return {"oneOf": [_message(m, name) for m in messages for name in m.events]}


def _message(message: Message, name: str) -> dict[str, Any]:
    content: dict[str, Any] = {"$ref": _REF.format(name=message.data.__name__)}
    if message.payload_at is not None:
        recorded: dict[str, Any] = {
            "type": "object",
            "properties": {
                "type": {"const": name},
                "data": {"$ref": _REF.format(name=payload_name(name))},
            },
            "required": ["type", "data"],
        }
        for key in reversed(message.payload_at):
            recorded = {"type": "object", "properties": {key: recorded}, "required": [key]}
        content = {"allOf": [content, recorded]}
    return {
        "type": "object",
        "properties": {
            "event": {"const": name},
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": content,
            },
        },
        "required": ["event", "id", "data"],
    }
