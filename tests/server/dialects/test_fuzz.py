"""Every dialect route, hit with hostile ids and query values: never a 5xx.

The native API is fuzzed from its OpenAPI document (``test_fuzz.py``); the
dialects have no such document, so this walks the router's ``/compat/``
routes: every route on every seeded execution with each plausible parameter
value in turn, then a seeded mix of valid and broken ids, parameter values
and tokens.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from ..conftest import Api, event

# Each dialect's parameter names (others are refused at once), and values a
# client would send, drawn half of the time; the other half is hostile.
PARAMS: dict[str, tuple[str, ...]] = {
    "snake": ("workflow_id", "status", "created_after", "created_before", "limit", "cursor"),
    "n8n": ("includeData", "status", "workflowId", "limit", "cursor"),
    "teams": ("page", "size", "status", "workflowId", "from", "to", "format", "days"),
    "dify": ("user", "include_state_snapshot", "continue_on_pause"),
    "actions": ("limit", "starting_after", "ending_before"),
}
PLAUSIBLE: dict[str, list[str]] = {
    "status": [
        "completed",
        "failed",
        "queued",
        "running",
        "success",
        "error",
        "waiting",
        "new",
        "canceled",
        "crashed",
        "PENDING",
        "RUNNING",
        "SUCCESS",
        "FAILED",
        "CANCELLED",
    ],
    "limit": ["1", "2", "20", "100", "250"],
    "page": ["0", "1", "3"],
    "size": ["1", "2", "20"],
    "includeData": ["true", "false"],
    "include_state_snapshot": ["true", "false"],
    "continue_on_pause": ["true", "false"],
    "format": ["csv", "json"],
    "days": ["1", "30"],
    "workflow_id": ["wf-1"],
    "workflowId": ["wf-1"],
    "user": ["abc-123"],
    "created_after": ["2020-01-01T00:00:00Z"],
    "created_before": ["2100-01-01T00:00:00Z"],
    "from": ["2020-01-01T00:00:00Z"],
    "to": ["2100-01-01T00:00:00Z"],
}
VALUES = [
    "",
    "0",
    "-1",
    "1",
    "7",
    "250",
    "251",
    "99999999999999999999999",
    "1e3",
    "0x10",
    "abc",
    "true",
    "FALSE",
    "null",
    "\x00",
    "%",
    "%%",
    "ünï",
    "😀",
    "2026-01-01",
    "2026-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00",
    "0000-01-01T00:00:00Z",
    "eyJsYXN0SWQiOiJ4In0=",
    "eyJsYXN0SWQiOjEsImxpbWl0Ijo5OTk5OX0=",
    "e30=",
    "W10=",
    "=",
    "a" * 5000,
    "00000000-0000-0000-0000-000000000000",
    "succeeded",
    "RUNNING",
    "waiting_async",
    "canceled",
    "csv",
    "json",
    "xml",
    "team-a",
    "team-b",
    "wf-1",
    "2147483648",
    "-9223372036854775809",
]
REQUESTS = 1000


async def _seed(api: Api) -> list[str]:
    """Executions in several states; their ids in every form the dialects use."""
    known: list[str] = []
    histories: list[list[dict[str, Any]]] = [
        [],
        [event("execution.started"), event("node.started", node_id="n1", node_name="N")],
        [
            event("execution.started"),
            event("node.started", node_id="n1"),
            event("node.completed", node_id="n1", tokens=5, output=[1, {"a": None}]),
            event("execution.completed", output="done"),
        ],
        [event("execution.started"), event("execution.waiting", reason="later")],
        [event("execution.started"), event("execution.failed")],
    ]
    for index, events in enumerate(histories):
        team = "team-a" if index % 2 else None
        created = await api.create(team_id=team, events=events)
        known += [str(created["id"]), created["uuid"], created["uuid"].upper()]
    return known


def _dialect_routes(api: Api) -> list[tuple[str, str]]:
    routes = [
        (route.method, route.resource.canonical)
        for route in api.client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/compat/")
        and route.method in {"GET", "POST", "DELETE"}
    ]
    assert len(routes) >= 14, routes
    return routes


def _fill(template: str, value: str) -> str:
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + quote(value, safe="") + path[end + 1 :]
    return path


async def _expect_no_5xx(
    api: Api, method: str, path: str, params: list[tuple[str, str]], token: str | None
) -> None:
    body: dict[str, str] | None = None if method == "GET" else {}
    status, answer = await api.call(method, path, token=token, params=params, json=body)
    assert status < 500, (method, path, params, token, answer)


async def test_each_plausible_parameter_on_each_execution_never_gets_a_5xx(api: Api) -> None:
    ids = await _seed(api)
    # Reads first: a delete or a cancel changes what later requests find.
    for method, template in sorted(_dialect_routes(api), key=lambda route: route[0] != "GET"):
        names = PARAMS[template.split("/")[2]]
        variants: list[list[tuple[str, str]]] = [[]]
        variants += [[(n, v)] for n in names for v in PLAUSIBLE.get(n, ids[:3])]
        targets = ["team-a", "team-b"] if "{teamId}" in template else ids
        for target in targets:
            for params in variants if method == "GET" else [[]]:
                await _expect_no_5xx(api, method, _fill(template, target), params, "admin")


async def test_hostile_requests_never_get_a_5xx(api: Api) -> None:
    ids = await _seed(api)
    routes = _dialect_routes(api)
    rng = random.Random(20261122)
    pool = VALUES + ids
    for _ in range(REQUESTS):
        method, template = rng.choice(routes)
        path = _fill(template, rng.choice(pool))
        names = PARAMS[template.split("/")[2]]
        params = [(rng.choice(names), rng.choice(pool)) for _ in range(rng.randint(0, 3))]
        token = rng.choice(["admin", "read", "team_a", "cancel", None])
        await _expect_no_5xx(api, method, path, params, token)
