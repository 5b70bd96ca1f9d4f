"""/v1/openapi.json describes exactly the routes the app serves."""

from __future__ import annotations

from typing import Any

from server.native import ENDPOINTS

from ..conftest import Api


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


async def test_the_document_covers_every_served_route_and_no_other(api: Api) -> None:
    status, doc = await api.call("GET", "/v1/openapi.json", token=None)
    assert status == 200
    assert doc["openapi"] == "3.2.0"
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {
        (route.method, route.resource.canonical)
        for route in api.client.app.router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        # Dialects follow their systems' own documents, not this one.
        and not route.resource.canonical.startswith("/compat/")
    }
    assert all(path.startswith("/v1/") for _, path in served)
    assert documented == served


async def test_every_reference_resolves(api: Api) -> None:
    _, doc = await api.call("GET", "/v1/openapi.json", token=None)
    schemas = doc["components"]["schemas"]
    refs = _refs(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref


async def test_guarded_operations_document_401_and_403_with_the_error_shape(api: Api) -> None:
    _, doc = await api.call("GET", "/v1/openapi.json", token=None)
    for endpoint in ENDPOINTS:
        operation = doc["paths"][endpoint.path][endpoint.method.lower()]
        codes = set(operation["responses"])
        if endpoint.scope is None:
            assert operation["security"] == []
            assert not {"401", "403"} & codes
            continue
        assert endpoint.scope in operation["description"]
        assert {"401", "403"} <= codes
        for code in ("401", "403"):
            schema = operation["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    error = doc["components"]["schemas"]["ErrorObject"]
    assert set(error["required"]) == {"code", "message"}
