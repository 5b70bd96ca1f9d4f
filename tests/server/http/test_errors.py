"""Every refusal: its status, its code, the field at fault, the one JSON error shape,
and nothing appended (the log's head and the executions' versions unchanged)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pytest

from ..conftest import MAX_BODY, Api, error_of, event

STARTED: Final = [event("execution.started")]
NESTED: Final = b"[" * 5000 + b"]" * 5000  # 10 KiB, well within the body limit


@dataclass(frozen=True)
class Case:
    """A refused request. ``{id}`` is a running execution (version 2), ``{done}``
    a completed one, ``{hash}`` a webhook's hash; a ``code`` or ``field`` of None is
    not checked."""

    id: str
    method: str
    path: str
    status: int
    code: str | None
    field: str | None = None
    json: Any = None
    data: bytes | None = None
    params: dict[str, str] | None = None
    token: str | None = "admin"
    rule: str | None = None
    says: tuple[str, ...] = ()  # what the message must quote or show


X = "/v1/executions"
E = "/v1/executions/{id}/events"
C = "/v1/executions/{id}/cancel"
W = "/v1/webhooks/{hash}"
BIG = "x" * (MAX_BODY + 1)


def append(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"events": list(events), **fields}


# A new user's first mistakes: each answer names the field and the rule, and
# says what was wrong in words that show how to get it right.
MISTAKES: Final = [
    Case(
        "naive date-time",
        "GET",
        X,
        400,
        "invalid_time",
        "created_after",
        params={"created_after": "2026-12-01T00:00:00"},
        rule="offset_required",
        says=("'2026-12-01T00:00:00'", "2026-12-01T00:00:00Z", "2026-12-01T00:00:00+09:00"),
    ),
    Case(
        "plus sent as a space",
        "GET",
        X,
        400,
        "invalid_time",
        "created_before",
        params={"created_before": "2026-12-01T10:00:00 09:00"},
        rule="plus_encoded_as_2B",
        says=("'+'", "2026-12-01T10:00:00%2B09:00"),
    ),
    *(
        Case(
            f"{moment} after its before",
            "GET",
            path,
            400,
            "empty_window",
            f"{moment}_after",
            params={f"{moment}_after": "2026-12-02", f"{moment}_before": "2026-12-01"},
            rule=f"{moment}_after <= {moment}_before",
            says=(f"{moment}_after (2026-12-02)", f"{moment}_before (2026-12-01)"),
        )
        for moment in ("created", "started", "finished")
        for path in (X, X + "/export")
    ),
    Case(
        "empty body",
        "POST",
        X,
        400,
        "empty_body",
        "body",
        data=b"",
        rule="json_required",
        says=('{"workflow_id": "wf-1"}',),
    ),
    Case(
        "lone surrogate",
        "POST",
        X,
        400,
        "invalid_json",
        "body",
        data=b'{"workflow_id": "\\ud800"}',
        rule="surrogate_pairs",
        says=("\\ud800 at byte 17", "surrogate"),
    ),
    Case(
        "lone low surrogate",
        "POST",
        E,
        400,
        "invalid_json",
        "body",
        data=b'{"events": [{"type": "node.started", "data": {"node_id": "\\udc00"}}]}',
        rule="surrogate_pairs",
        says=("\\udc00",),
    ),
    Case(
        "missing workflow_id", "POST", X, 400, "missing_field", "workflow_id", {}, rule="required"
    ),
    Case("missing events", "POST", E, 400, "missing_field", "events", {}, rule="required"),
    Case(
        "missing event type",
        "POST",
        E,
        400,
        "missing_field",
        "events[0].type",
        append({"data": {}}),
        rule="required",
    ),
    Case(
        "missing node_id",
        "POST",
        E,
        400,
        "missing_field",
        "events[0].data.node_id",
        append(event("node.started")),
        rule="required",
    ),
    Case(
        "stream type",
        "GET",
        "/v1/stream",
        400,
        "unknown_event_type",
        "type",
        params={"type": "bogus"},
        rule="event_type",
        says=("'bogus'", "node.started", "execution.completed"),
    ),
    Case(
        "as_of_version beyond the last",
        "GET",
        X + "/{id}",
        404,
        "not_yet",
        "as_of_version",
        params={"as_of_version": "3"},
        rule="recorded_version",
        says=("version 3", "its last is 2"),
    ),
]
CASES: Final = [
    # Malformed JSON
    Case("json create", "POST", X, 400, "invalid_json", "body", data=b"{not json"),
    Case("json append", "POST", E, 400, "invalid_json", "body", data=b'{"events": ['),
    Case("json cancel", "POST", C, 400, "invalid_json", "body", data=b"{'by': 1}"),
    Case("json webhook", "POST", W, 400, "invalid_json", "body", data=b"{bad"),
    Case("array body", "POST", E, 400, "invalid_field", "body", data=b"[]"),
    # Wrong types
    Case("type workflow_id", "POST", X, 400, "invalid_field", "workflow_id", {"workflow_id": 5}),
    Case(
        "type test_mode",
        "POST",
        X,
        400,
        "invalid_field",
        "test_mode",
        {"workflow_id": "w", "test_mode": "yes"},
    ),
    Case(
        "type create node_id",
        "POST",
        X,
        400,
        "invalid_field",
        "events[0].data.node_id",
        {"workflow_id": "w", "events": [event("node.started", node_id=5)]},
    ),
    Case(
        "type node_id",
        "POST",
        E,
        400,
        "invalid_field",
        "events[0].data.node_id",
        append(event("node.started", node_id=5)),
    ),
    Case(
        "type second event",
        "POST",
        E,
        400,
        "invalid_field",
        "events[1].data.tokens",
        append(event("node.started", node_id="n"), event("node.completed", node_id="n", tokens=-1)),
    ),
    Case("type event type", "POST", E, 400, "invalid_field", "events[0].type", append({"type": 5})),
    Case(
        "type data",
        "POST",
        E,
        400,
        "invalid_field",
        "events[0].data",
        append({"type": "node.started", "data": 5}),
    ),
    Case("type events", "POST", E, 400, "invalid_field", "events", {"events": {}}),
    Case(
        "type expected_version",
        "POST",
        E,
        400,
        "invalid_field",
        "expected_version",
        append(*STARTED, expected_version="2"),
    ),
    Case("type cancel by", "POST", C, 400, "invalid_field", "by", {"by": 5}),
    Case(
        "event_id empty",
        "POST",
        E,
        400,
        "invalid_event",
        "events[0].event_id",
        append({"type": "execution.started", "event_id": ""}),
    ),
    # Unknown fields
    Case(
        "unknown create", "POST", X, 400, "invalid_field", "bogus", {"workflow_id": "w", "bogus": 1}
    ),
    Case(
        "unknown event",
        "POST",
        E,
        400,
        "invalid_field",
        "events[0].bogus",
        append({"type": "node.started", "data": {"node_id": "n"}, "bogus": 1}),
    ),
    Case(
        "unknown data",
        "POST",
        E,
        400,
        "invalid_field",
        "events[0].data.bogus",
        append(event("node.started", node_id="n", bogus=1)),
    ),
    Case("unknown cancel", "POST", C, 400, "invalid_field", "bogus", {"bogus": 1}),
    # Event types, empty lists
    Case(
        "unknown type",
        "POST",
        E,
        400,
        "unknown_event_type",
        "events[0].type",
        append(event("node.exploded")),
    ),
    Case(
        "queued appended",
        "POST",
        E,
        400,
        "unknown_event_type",
        "events[1].type",
        append(event("node.started", node_id="n"), event("execution.queued", workflow_id="w")),
    ),
    Case(
        "unknown type create",
        "POST",
        X,
        400,
        "unknown_event_type",
        "events[0].type",
        {"workflow_id": "w", "events": [event("nope")]},
    ),
    Case("no events", "POST", E, 400, "empty", "events", append()),
    # Oversize bodies
    Case("big create", "POST", X, 413, "body_too_large", json={"workflow_id": "w", "input": BIG}),
    Case(
        "big append",
        "POST",
        E,
        413,
        "body_too_large",
        json=append(event("node.started", node_id="n", input=BIG)),
    ),
    Case("big cancel", "POST", C, 413, "body_too_large", json={"reason": BIG}),
    Case("big webhook", "POST", W, 413, "body_too_large", json={"q": BIG}),
    # Bodies no decoder should choke on: 400 (any code), never a 5xx or a write
    Case(
        "deep create",
        "POST",
        X,
        400,
        None,
        None,
        data=b'{"workflow_id": "w", "input": ' + NESTED + b"}",
    ),
    Case(
        "deep append",
        "POST",
        E,
        400,
        None,
        None,
        data=b'{"events": [{"type": "node.started", "data": ' + NESTED + b"}]}",
    ),
    Case("deep webhook", "POST", W, 400, None, None, data=NESTED),
    Case("utf-8 create", "POST", X, 400, None, None, data=b'{"workflow_id": "\xff"}'),
    Case("utf-8 cancel", "POST", C, 400, None, None, data=b'{"by": "\xff"}'),
    Case("utf-8 webhook", "POST", W, 400, None, None, data=b'"\xff"'),
    # Bad times
    Case(
        "time list",
        "GET",
        X,
        400,
        "invalid_time",
        "created_after",
        params={"created_after": "yesterday"},
    ),
    Case(
        "time no offset",
        "GET",
        X,
        400,
        "invalid_time",
        "started_before",
        params={"started_before": "2026-01-01T00:00:00"},
    ),
    Case(
        "time export",
        "GET",
        X + "/export",
        400,
        "invalid_time",
        "finished_after",
        params={"finished_after": "2026-13-01"},
    ),
    Case(
        "time as_of",
        "GET",
        X + "/{id}",
        400,
        "invalid_time",
        "as_of",
        params={"as_of": "2026-01-01T00:00:00"},
    ),
    Case(
        "time occurred_at",
        "POST",
        X,
        400,
        "invalid_time",
        "occurred_at",
        {"workflow_id": "w", "occurred_at": "yesterday"},
    ),
    Case(
        "time event",
        "POST",
        E,
        400,
        "invalid_time",
        "events[0].occurred_at",
        append({"type": "execution.waiting", "occurred_at": "2026-01-01T00:00:00"}),
    ),
    Case(
        "time wait_till",
        "POST",
        E,
        400,
        "invalid_time",
        "events[0].data.wait_till",
        append(event("execution.waiting", wait_till="tomorrow")),
    ),
    # Bad query parameters
    Case("cursor", "GET", X, 400, "invalid_query", "cursor", params={"cursor": "garbage"}),
    Case("limit 0", "GET", X, 400, "invalid_range", "limit", params={"limit": "0"}),
    Case("limit 101", "GET", X, 400, "invalid_range", "limit", params={"limit": "101"}),
    Case("limit abc", "GET", X, 400, "invalid_integer", "limit", params={"limit": "abc"}),
    Case("limit 1.5", "GET", X, 400, "invalid_integer", "limit", params={"limit": "1.5"}),
    Case("status", "GET", X, 400, "invalid_status", "status", params={"status": "done"}),
    Case("test_mode", "GET", X, 400, "invalid_boolean", "test_mode", params={"test_mode": "y"}),
    Case("format", "GET", X + "/export", 400, "invalid_format", "format", params={"format": "xml"}),
    Case(
        "text export", "GET", X + "/export", 400, "invalid_query", "text", params={"q": "x" * 201}
    ),
    Case("unknown list", "GET", X, 400, "unknown_parameter", "stauts", params={"stauts": "failed"}),
    Case(
        "unknown export",
        "GET",
        X + "/export",
        400,
        "unknown_parameter",
        "limit",
        params={"limit": "5"},
    ),
    Case(
        "unknown detail",
        "GET",
        X + "/{id}",
        400,
        "unknown_parameter",
        "version",
        params={"version": "1"},
    ),
    Case(
        "unknown history",
        "GET",
        X + "/{id}/history",
        400,
        "unknown_parameter",
        "limit",
        params={"limit": "1"},
    ),
    Case(
        "both as_of",
        "GET",
        X + "/{id}",
        400,
        "exclusive",
        "as_of",
        params={"as_of_version": "1", "as_of": "2026-01-01T00:00:00Z"},
    ),
    Case(
        "as_of_version 0",
        "GET",
        X + "/{id}",
        400,
        "invalid_range",
        "as_of_version",
        params={"as_of_version": "0"},
    ),
    # Conflicts and rules
    Case(
        "stale version",
        "POST",
        E,
        409,
        "version_conflict",
        "expected_version",
        append(event("node.started", node_id="n"), expected_version=1),
    ),
    Case(
        "rule",
        "POST",
        E,
        422,
        "rule_violation",
        "events[0]",
        append(event("node.completed", node_id="n")),
        rule="node.not_started",
    ),
    Case(
        "rule second",
        "POST",
        E,
        422,
        "rule_violation",
        "events[1]",
        append(event("node.started", node_id="n"), event("node.completed", node_id="m")),
        rule="node.not_started",
    ),
    Case(
        "rule create",
        "POST",
        X,
        422,
        "rule_violation",
        "events[0]",
        {"workflow_id": "w", "events": [event("execution.completed")]},
    ),
    Case(
        "rule done",
        "POST",
        "/v1/executions/{done}/events",
        422,
        "rule_violation",
        "events[0]",
        append(event("execution.started")),
    ),
    Case("cancel done", "POST", "/v1/executions/{done}/cancel", 409, "already_finished"),
    # Not found, wrong method, no token, wrong scope
    Case("no detail", "GET", X + "/999999", 404, "not_found", "id"),
    Case("no history", "GET", X + "/nope/history", 404, "not_found", "id"),
    Case("no append", "POST", X + "/999999/events", 404, "not_found", "id", append(*STARTED)),
    Case("no cancel", "POST", X + "/999999/cancel", 404, "not_found", "id"),
    Case(
        "no retry_of",
        "POST",
        X,
        404,
        "not_found",
        "retry_of",
        {"workflow_id": "w", "retry_of": 999999},
    ),
    Case("no webhook", "POST", "/v1/webhooks/nope", 404, "not_found", "hash", {"q": 1}),
    Case(
        "no replay",
        "GET",
        X + "/{id}",
        404,
        "not_yet",
        "as_of",
        params={"as_of": "2000-01-01T00:00:00Z"},
    ),
    *MISTAKES,
    Case("no route", "GET", "/v1/nothing", 404, "not_found"),
    Case("no route v2", "POST", "/v2/executions", 404, "not_found", json={"workflow_id": "w"}),
    Case("method", "DELETE", X + "/{id}", 405, "method_not_allowed"),
    Case("method put", "PUT", X, 405, "method_not_allowed", json={"workflow_id": "w"}),
    Case("no token", "POST", E, 401, "unauthenticated", json=append(*STARTED), token=None),
    Case("scope", "POST", E, 403, "insufficient_scope", json=append(*STARTED), token="read"),
    Case(
        "team", "GET", X, 403, "forbidden_team", "team_id", params={"team_id": "x"}, token="team_a"
    ),
]


async def setup(api: Api) -> dict[str, str]:
    running = await api.create(events=STARTED)
    assert (running["status"], running["version"]) == ("running", 2)
    done = await api.create(events=[*STARTED, event("execution.completed")])
    status, hook = await api.call("POST", "/v1/workflows/wf-1/webhook")
    assert status == 201, hook
    return {"id": str(running["id"]), "done": str(done["id"]), "hash": hook["hash"]}


async def snapshot(api: Api, ids: dict[str, str]) -> tuple[int, int, int]:
    versions = []
    for name in ("id", "done"):
        status, body = await api.call("GET", f"/v1/executions/{ids[name]}")
        assert status == 200, body
        versions.append(body["version"])
    return api.store.head, versions[0], versions[1]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_a_refusal_has_its_status_code_field_and_shape_and_changes_nothing(
    api: Api, case: Case
) -> None:
    ids = await setup(api)
    before = await snapshot(api, ids)
    status, body = await api.call(
        case.method,
        case.path.format(**ids),
        token=case.token,
        json=case.json,
        data=case.data,
        params=case.params,
    )
    assert status == case.status, body
    error = error_of(body)
    if case.code is not None:
        assert error["code"] == case.code, error
    if case.field is not None:
        assert error.get("field") == case.field, error
    if case.rule is not None:
        assert error.get("rule") == case.rule, error
    for words in case.says:
        assert words in error["message"], error
    assert await snapshot(api, ids) == before


async def test_a_stale_expected_version_names_the_current_one(api: Api) -> None:
    ids = await setup(api)
    before = await snapshot(api, ids)
    for stale in (0, 1, 3):
        status, body = await api.call(
            "POST", E.format(**ids), json=append(*STARTED, expected_version=stale)
        )
        assert status == 409, body
        assert error_of(body)["current_version"] == 2
    assert await snapshot(api, ids) == before
    status, body = await api.call(
        "POST", E.format(**ids), json=append(event("execution.completed"), expected_version=2)
    )
    assert (status, body["version"]) == (201, 3)


async def test_a_rule_violation_names_its_rule(api: Api) -> None:
    ids = await setup(api)
    status, body = await api.call("POST", E.format(**ids), json=append(event("execution.started")))
    assert status == 422, body
    rule = error_of(body)["rule"]
    assert isinstance(rule, str) and rule in error_of(body)["message"]


async def test_the_same_event_id_with_other_content_is_409(api: Api) -> None:
    ids = await setup(api)
    sent = {**event("node.started", node_id="n"), "event_id": "run-1-n"}
    status, body = await api.call("POST", E.format(**ids), json=append(sent))
    assert (status, body["duplicate"]) == (201, False)
    before = await snapshot(api, ids)
    status, body = await api.call("POST", E.format(**ids), json=append(sent))
    assert (status, body["duplicate"]) == (200, True)
    other = {**event("node.started", node_id="m"), "event_id": "run-1-n"}
    status, body = await api.call("POST", E.format(**ids), json=append(other))
    assert status == 409, body
    assert error_of(body)["code"] == "idempotency_conflict"
    other_execution = E.format(id=ids["done"])
    status, body = await api.call("POST", other_execution, json=append(sent))
    assert (status, error_of(body)["code"]) == (409, "idempotency_conflict")
    assert await snapshot(api, ids) == before


async def test_cancel_twice_is_409_the_second_time(api: Api) -> None:
    queued = await api.create()
    status, body = await api.call("POST", f"/v1/executions/{queued['id']}/cancel")
    assert (status, body["status"]) == (200, "cancelled")
    head = api.store.head
    status, body = await api.call("POST", f"/v1/executions/{queued['id']}/cancel")
    assert status == 409, body
    assert error_of(body)["code"] == "already_finished"
    assert api.store.head == head


async def test_a_cursor_edited_by_hand_is_refused(api: Api) -> None:
    for _ in range(3):
        await api.create()
    status, page = await api.call("GET", X, params={"limit": "1"})
    assert status == 200 and page["next_cursor"], page
    cursor: str = page["next_cursor"]
    status, body = await api.call("GET", X, params={"limit": "1", "cursor": cursor})
    assert status == 200, body
    for bad in ("", cursor[:-1], cursor + "A", cursor[:-1] + ("A" if cursor[-1] != "A" else "B")):
        status, body = await api.call("GET", X, params={"cursor": bad})
        assert status == 400, (bad, body)
        assert error_of(body)["field"] == "cursor"


async def test_a_body_just_under_the_limit_is_accepted(api: Api) -> None:
    head = api.store.head
    await api.create(input="x" * (MAX_BODY - 100))
    assert api.store.head == head + 1


async def test_a_wrong_method_names_the_allowed_ones(api: Api) -> None:
    async with api.client.request("PATCH", X, headers=api.auth("admin")) as response:
        assert response.status == 405
        assert set(response.headers["Allow"].split(",")) == {"GET", "POST"}
        assert error_of(await response.json())["code"] == "method_not_allowed"
