"""/v1/executions: create, append, list, detail, replay, history, cancel over HTTP."""

from __future__ import annotations

import hashlib
from typing import Any

from eventstore.hashchain import GENESIS
from server.render.times import parse_iso

from ..conftest import Api, event

RUN = (
    event("execution.started", worker="w1"),
    event("node.started", node_id="llm", node_name="Draft", node_type="llm", input={"q": 1}),
    event("node.completed", node_id="llm", tokens=51, output={"text": "hi"}),
)


async def test_create_returns_the_detail_with_iso_times(api: Api) -> None:
    body = await api.create(
        workflow_name="Support", display_name="Ticket #1", input={"ticket": 1}, team_id="t"
    )
    assert body["id"] == 1
    assert (body["status"], body["workflow_name"], body["team_id"]) == ("queued", "Support", "t")
    assert body["input"] == {"ticket": 1}
    created = body["created_at"]
    assert created.endswith("Z") and len(created) == len("2026-11-22T10:00:00.123Z")
    assert body["version"] == 1


async def test_create_with_first_events_is_one_atomic_write(api: Api) -> None:
    body = await api.create(events=list(RUN))
    assert (body["status"], body["version"], body["tokens"]) == ("running", 4, 51)
    before = api.store.head
    bad = [*RUN, event("node.completed", node_id="never-started")]
    status, error = await api.call(
        "POST", "/v1/executions", json={"workflow_id": "wf", "events": bad}
    )
    assert status == 422
    assert error["error"]["field"] == "events[3]"
    assert api.store.head == before


async def test_create_answers_what_a_read_returns(api: Api) -> None:
    # The create folds the events it committed instead of reading them back:
    # a finished execution's answer must equal the detail read afterwards.
    done = [*RUN, event("execution.completed", output={"ok": True})]
    for events in ([], list(RUN), done):
        body = await api.create(team_id="t", input={"n": len(events)}, events=events)
        status, read = await api.call("GET", f"/v1/executions/{body['id']}")
        assert status == 200
        if body["status"] != "completed":  # its elapsed time runs on with the clock
            for clocked in ("duration_ms", "elapsed_ms"):
                body.pop(clocked)
                read.pop(clocked)
        assert body == read


async def test_a_known_external_id_returns_the_existing_execution(api: Api) -> None:
    first = await api.create(external_id="run-42")
    status, again = await api.call(
        "POST", "/v1/executions", json={"workflow_id": "wf-1", "external_id": "run-42"}
    )
    assert status == 200
    assert again["id"] == first["id"]


async def test_append_by_integer_or_external_id(api: Api) -> None:
    created = await api.create(external_id="ext-7")
    status, appended = await api.append("ext-7", *RUN)
    assert status == 201
    assert appended == {
        "execution_id": created["id"],
        "version": 4,
        "positions": [2, 3, 4],
        "duplicate": False,
    }
    status, detail = await api.call("GET", f"/v1/executions/{created['id']}")
    assert status == 200
    assert detail["nodes"][0]["attempts"][0]["output"] == {"text": "hi"}
    assert detail["nodes"][0]["tokens"] == 51


async def test_an_append_resent_with_its_event_ids_is_answered_once(api: Api) -> None:
    created = await api.create()
    started = {**event("execution.started"), "event_id": "evt-1"}
    first = await api.append(created["id"], started)
    again = await api.append(created["id"], started)
    assert (first[0], again[0]) == (201, 200)
    assert again[1]["positions"] == first[1]["positions"]
    assert again[1]["duplicate"] is True


async def test_a_stale_expected_version_gets_409_with_the_current_one(api: Api) -> None:
    created = await api.create(events=[event("execution.started")])
    status, body = await api.call(
        "POST",
        f"/v1/executions/{created['id']}/events",
        json={"events": [event("execution.completed")], "expected_version": 1},
    )
    assert status == 409
    assert body["error"]["current_version"] == 2
    assert body["error"]["code"] == "version_conflict"


async def test_a_broken_rule_gets_422_naming_it(api: Api) -> None:
    created = await api.create()
    status, body = await api.append(created["id"], event("node.started", node_id="n"))
    assert status == 422
    assert body["error"]["code"] == "rule_violation"
    assert body["error"]["rule"]
    assert body["error"]["rule"] in body["error"]["message"]


async def test_waiting_takes_an_iso_deadline(api: Api) -> None:
    created = await api.create(events=[event("execution.started")])
    till = "2026-12-01T09:30:00.250+09:00"
    status, _ = await api.append(
        created["id"], event("execution.waiting", reason="approval", wait_till=till)
    )
    assert status == 201
    _, detail = await api.call("GET", f"/v1/executions/{created['id']}")
    assert detail["status"] == "waiting"
    assert detail["wait_reason"] == "approval"
    assert parse_iso(detail["wait_till"]) == parse_iso(till)
    assert detail["wait_till"] == "2026-12-01T00:30:00.250Z"


async def test_detail_as_of_a_version_and_as_of_a_time(api: Api) -> None:
    created = await api.create()
    await api.append(created["id"], *RUN)
    path = f"/v1/executions/{created['id']}"
    _, two = await api.call("GET", path, params={"as_of_version": "2"})
    assert (two["status"], two["version"], two["nodes"]) == ("running", 2, [])
    _, history = await api.call("GET", f"{path}/history")
    at = history["events"][2]["recorded_at"]
    _, then = await api.call("GET", path, params={"as_of": at})
    _, now = await api.call("GET", path)
    assert then["version"] == now["version"] == 4  # recorded together, in one append
    status, body = await api.call("GET", path, params={"as_of": "2000-01-01T00:00:00Z"})
    assert status == 404
    assert body["error"]["field"] == "as_of"


async def test_history_is_the_raw_chain(api: Api) -> None:
    created = await api.create()
    await api.append(created["id"], *RUN)
    status, history = await api.call("GET", f"/v1/executions/{created['id']}/history")
    assert status == 200
    events = history["events"]
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    assert [e["type"] for e in events] == [
        "execution.queued",
        "execution.started",
        "node.started",
        "node.completed",
    ]
    assert events[3]["data"]["tokens"] == 51
    assert all(len(bytes.fromhex(e["hash"])) == hashlib.sha256().digest_size for e in events)
    assert events[0]["hash"] != GENESIS.hex()


async def test_list_filters_and_pages_newest_first(api: Api) -> None:
    ids = [(await api.create(workflow_id=f"wf-{i % 2}"))["id"] for i in range(5)]
    await api.append(ids[0], event("execution.started"))
    status, page = await api.call("GET", "/v1/executions", params={"limit": "2"})
    assert status == 200
    assert [row["id"] for row in page["items"]] == [ids[4], ids[3]]
    _, rest = await api.call(
        "GET", "/v1/executions", params={"limit": "10", "cursor": page["next_cursor"]}
    )
    assert [row["id"] for row in rest["items"]] == [ids[2], ids[1], ids[0]]
    assert rest["next_cursor"] is None
    _, wf0 = await api.call("GET", "/v1/executions", params={"workflow_id": "wf-0"})
    assert [row["id"] for row in wf0["items"]] == [ids[4], ids[2], ids[0]]
    _, running = await api.call("GET", "/v1/executions", params={"status": "running,failed"})
    assert [row["id"] for row in running["items"]] == [ids[0]]


async def test_list_time_and_text_filters(api: Api) -> None:
    first = await api.create(display_name="Invoice 100%", test_mode=True)
    second = await api.create(display_name="Other")
    params: dict[str, Any] = {"created_after": second["created_at"]}
    _, after = await api.call("GET", "/v1/executions", params=params)
    assert [row["id"] for row in after["items"]] == [second["id"]]
    _, text = await api.call("GET", "/v1/executions", params={"q": "100%"})
    assert [row["id"] for row in text["items"]] == [first["id"]]
    _, tests = await api.call("GET", "/v1/executions", params={"test_mode": "true"})
    assert [row["id"] for row in tests["items"]] == [first["id"]]


async def test_cancel_queued_at_once_running_by_request_finished_refused(api: Api) -> None:
    queued = await api.create()
    status, body = await api.call("POST", f"/v1/executions/{queued['id']}/cancel")
    assert (status, body["status"]) == (200, "cancelled")

    running = await api.create(events=[event("execution.started")])
    path = f"/v1/executions/{running['id']}/cancel"
    status, body = await api.call("POST", path, json={"reason": "user"})
    assert (status, body["status"], body["cancel_requested"]) == (202, "running", True)
    assert body["cancel_reason"] == "user"
    again = await api.call("POST", path)
    assert again[0] == 202
    assert again[1]["version"] == body["version"]  # asked once, recorded once
    await api.append(running["id"], event("execution.cancelled"))

    status, body = await api.call("POST", path)
    assert status == 409
    assert body["error"]["code"] == "already_finished"


async def test_a_cancel_token_that_cannot_read_gets_only_the_ids(api: Api) -> None:
    queued = await api.create(external_id="run-7")
    status, body = await api.call("POST", f"/v1/executions/{queued['id']}/cancel", token="cancel")
    ref = {"id": queued["id"], "uuid": queued["uuid"], "external_id": "run-7"}
    assert (status, body) == (200, ref)
    _, now = await api.call("GET", f"/v1/executions/{queued['id']}")
    assert now["status"] == "cancelled"


async def test_the_execution_error_object_comes_from_the_failure(api: Api) -> None:
    created = await api.create(events=list(RUN))
    failure = {"code": "TIMEOUT", "message": "llm took too long", "node_id": "llm"}
    await api.append(created["id"], event("execution.failed", error=failure))
    _, detail = await api.call("GET", f"/v1/executions/{created['id']}")
    assert detail["status"] == "failed"
    assert detail["error"] == failure
    _, listed = await api.call("GET", "/v1/executions", params={"error_code": "TIMEOUT"})
    assert listed["items"][0]["error"] == failure
