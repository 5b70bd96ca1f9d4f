"""The OpenAPI 3.1 document, generated from the route declarations and the
wire Structs (msgspec writes their JSON Schemas)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from .endpoints import Endpoint, Reply
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


def openapi_document(endpoints: Sequence[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    types: set[type[Any]] = {ErrorBody}
    for endpoint in endpoints:
        types.update(r.body for r in endpoint.replies if r.body is not None)
        if endpoint.body is not None:
            types.add(endpoint.body)
    ordered = sorted(types, key=lambda t: t.__name__)
    _, components = msgspec.json.schema_components(ordered, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
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
