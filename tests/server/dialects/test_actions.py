"""/compat/actions: the "actions" system's execution object, reproduced from events."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.dialects.actions import hashid, hashid_number
from server.http.settings import Settings

from ..conftest import Api, at, event, open_api

BASE = "/compat/actions/api/v1"
ITEM_FIELDS = {
    "hashid",
    "actions_count",
    "completed_actions_count",
    "created_at",
    "created_at_string",
    "created_at_utc",
    "failed_actions_count",
    "id",
    "idle_actions_count",
    "key",
    "name",
    "object",
    "running_actions_count",
    "status",
    "stopped_actions_count",
}
DETAIL_FIELDS = ITEM_FIELDS | {"execution_data", "log", "stats", "template"}
NO_TIMES = {"scheduled_at": None, "completed_at": None, "stopped_at": None, "failed_at": None}


async def _create(api: Api, time: str, *events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return await api.create(occurred_at=time, events=list(events), **fields)


async def test_the_documents_example_is_reproduced_from_events(api: Api) -> None:
    # Triggered at 03:49:44 UTC, 23:49:44 the evening before in New York (EDT).
    made = await _create(
        api,
        "2025-10-06T03:49:44Z",
        at("execution.started", "2025-10-06T03:49:45Z"),
        at("node.started", "2025-10-06T03:49:46.700Z", node_id="nuvESM"),
        workflow_id="workflow_8",
        workflow_name="Workflow 8",
    )
    status, body = await api.call("GET", f"{BASE}/executions/{made['uuid']}", token="read")
    assert status == 200, body
    assert body == {
        "hashid": hashid(made["id"]),
        "actions_count": 1,
        "completed_actions_count": 0,
        "created_at": "2025-10-05T23:49:44-04:00",
        "created_at_string": "Oct 05, 2025 11:49 pm EDT",
        "created_at_utc": "2025-10-06T03:49:44Z",
        "execution_data": None,
        "failed_actions_count": 0,
        "id": made["uuid"],
        "idle_actions_count": 0,
        "key": "workflow_8",
        "log": {},
        "name": "Workflow 8",
        "object": "execution",
        "running_actions_count": 1,
        "stats": {
            "nuvESM": {**NO_TIMES, "status": "running", "scheduled_at": "2025-10-05T23:49:46-04:00"}
        },
        "status": "running",
        "stopped_actions_count": 0,
        "template": None,
    }
    assert re.fullmatch(r"[0-9a-z]{5}", body["hashid"])
    # The hashid names the same execution.
    status, again = await api.call("GET", f"{BASE}/executions/{body['hashid']}", token="read")
    assert (status, again) == (200, body)


async def test_finished_actions_carry_their_times_and_counts(api: Api) -> None:
    made = await _create(
        api,
        "2026-01-15T17:05:00Z",
        at("execution.started", "2026-01-15T17:05:01Z"),
        at("node.started", "2026-01-15T17:05:02Z", node_id="a"),
        at(
            "node.failed",
            "2026-01-15T17:05:03Z",
            node_id="a",
            will_retry=True,
            error={"code": "timeout"},
        ),
        at("node.started", "2026-01-15T17:05:04Z", node_id="a", attempt=2),
        at("node.completed", "2026-01-15T17:05:05.999Z", node_id="a", attempt=2),
        at("node.started", "2026-01-15T17:05:06Z", node_id="b"),
        at("node.failed", "2026-01-15T17:05:07Z", node_id="b", error={"code": "boom"}),
        at("execution.failed", "2026-01-15T17:05:08Z"),
        workflow_id="wf-9",
        display_name="Order #12",
        input={"order": 12},
    )
    _, body = await api.call("GET", f"{BASE}/executions/{made['uuid']}")
    assert (body["status"], body["key"], body["name"]) == ("failed", "wf-9", "Order #12")
    assert body["execution_data"] == {"order": 12}
    # Noon and after is pm, in EST in January.
    assert body["created_at_string"] == "Jan 15, 2026 12:05 pm EST"
    assert body["created_at"] == "2026-01-15T12:05:00-05:00"
    assert body["stats"] == {
        "a": {
            **NO_TIMES,
            "status": "completed",
            "scheduled_at": "2026-01-15T12:05:02-05:00",
            "completed_at": "2026-01-15T12:05:05-05:00",
        },
        "b": {
            **NO_TIMES,
            "status": "failed",
            "scheduled_at": "2026-01-15T12:05:06-05:00",
            "failed_at": "2026-01-15T12:05:07-05:00",
        },
    }
    counts = {name: body[f"{name}_actions_count"] for name in ("completed", "failed", "running")}
    assert counts == {"completed": 1, "failed": 1, "running": 0}
    assert (body["actions_count"], body["stopped_actions_count"]) == (2, 0)


async def test_a_cancelled_execution_is_stopped_with_its_running_actions(api: Api) -> None:
    made = await _create(
        api,
        "2026-01-15T05:05:00Z",
        at("execution.started", "2026-01-15T05:05:01Z"),
        at("node.started", "2026-01-15T05:05:02Z", node_id="done"),
        at("node.completed", "2026-01-15T05:05:03Z", node_id="done"),
        at("node.started", "2026-01-15T05:05:04Z", node_id="slow"),
        at("execution.cancelled", "2026-01-15T05:06:00Z"),
    )
    _, body = await api.call("GET", f"{BASE}/executions/{made['uuid']}")
    assert body["status"] == "stopped"
    assert body["created_at_string"] == "Jan 15, 2026 12:05 am EST"  # midnight hour is 12 am
    assert body["stats"]["slow"] == {
        **NO_TIMES,
        "status": "stopped",
        "scheduled_at": "2026-01-15T00:05:04-05:00",
        "stopped_at": "2026-01-15T00:06:00-05:00",
    }
    assert body["stats"]["done"]["status"] == "completed"
    assert (body["running_actions_count"], body["stopped_actions_count"]) == (0, 1)
    assert (body["completed_actions_count"], body["actions_count"]) == (1, 2)
    # The list reads the summary table and counts alike.
    _, page = await api.call("GET", f"{BASE}/executions")
    assert page["collection"] == [{k: v for k, v in body.items() if k in ITEM_FIELDS}]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], "running"),  # queued: the system shows a triggered execution as running
        ([event("execution.started")], "running"),
        ([event("execution.started"), event("execution.waiting")], "running"),
        ([event("execution.started"), event("execution.completed")], "completed"),
        ([event("execution.started"), event("execution.failed")], "failed"),
        ([event("execution.cancelled")], "stopped"),
        ([event("execution.started"), event("execution.crashed", reason="oom")], "failed"),
    ],
)
async def test_every_status_is_mapped(
    api: Api, events: list[dict[str, Any]], expected: str
) -> None:
    made = await api.create(events=events)
    _, body = await api.call("GET", f"{BASE}/executions/{made['uuid']}")
    assert body["status"] == expected
    _, page = await api.call("GET", f"{BASE}/executions")
    assert page["collection"][0]["status"] == expected


@pytest.mark.parametrize(
    ("utc", "local", "string"),
    [
        # Spring forward, 2025-03-09: 02:00 EST becomes 03:00 EDT.
        ("2025-03-09T06:59:59Z", "2025-03-09T01:59:59-05:00", "Mar 09, 2025 01:59 am EST"),
        ("2025-03-09T07:00:00Z", "2025-03-09T03:00:00-04:00", "Mar 09, 2025 03:00 am EDT"),
        # Fall back, 2025-11-02: 01:30 happens twice, first in EDT, then in EST.
        ("2025-11-02T05:30:00Z", "2025-11-02T01:30:00-04:00", "Nov 02, 2025 01:30 am EDT"),
        ("2025-11-02T06:30:00Z", "2025-11-02T01:30:00-05:00", "Nov 02, 2025 01:30 am EST"),
    ],
)
async def test_created_at_follows_daylight_saving_time(
    api: Api, utc: str, local: str, string: str
) -> None:
    made = await api.create(occurred_at=utc.replace("Z", ".999999Z"))  # seconds are truncated
    _, body = await api.call("GET", f"{BASE}/executions/{made['uuid']}")
    assert (body["created_at"], body["created_at_string"]) == (local, string)
    assert body["created_at_utc"] == utc


async def test_the_time_zone_is_a_setting(tmp_path: Path) -> None:
    settings = Settings(dialects={"actions": {"time_zone": "Asia/Tokyo"}})
    async with open_api(tmp_path / "x.db", settings) as api:
        made = await api.create(occurred_at="2025-10-06T03:49:44Z")
        _, body = await api.call("GET", f"{BASE}/executions/{made['uuid']}")
    assert body["created_at"] == "2025-10-06T12:49:44+09:00"
    assert body["created_at_string"] == "Oct 06, 2025 12:49 pm JST"
    for bad in ("Mars/Olympus", "", "/etc/localtime", "America", "+09:00"):
        with pytest.raises(ValueError, match="time zone"):
            create_app(tmp_path / "y.db", Settings(dialects={"actions": {"time_zone": bad}}))


def test_hashids_are_short_distinct_and_reversible() -> None:
    ids = [*range(1, 3000), 36**5 - 1, 36**5, 36**6, 2**63 - 1]
    made = [hashid(number) for number in ids]
    assert len(set(made)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-z]{5,13}", text) for text in made)
    assert [hashid_number(text) for text in made] == ids
    assert (len(hashid(36**5 - 1)), len(hashid(36**5)), len(hashid(2**63 - 1))) == (5, 6, 13)
    assert hashid(1) == "jzs8g"  # stable across releases: clients store them
    for text in ("JZS8G", "jzs8", "jzs8g_", " jzs8g", "00000000000000", "zzzzzzzzzzzzz"):
        assert hashid_number(text) is None, text
    # One spelling per id: any text that names an id is that id's hashid.
    rng = random.Random(4)
    texts = ["".join(rng.choices("0123456789abcdefghijklmnopqrstuvwxyz", k=6)) for _ in range(2000)]
    named = [(text, hashid_number(text)) for text in texts]
    assert all(hashid(number) == text for text, number in named if number is not None)
    # About 1 in 36 six-digit values would be a smaller id written wide: refused.
    assert 0 < sum(number is None for _, number in named) < 200


async def test_only_a_uuid_or_a_hashid_names_an_execution(api: Api) -> None:
    made = await api.create(external_id="ext-1")
    for good in (made["uuid"], made["uuid"].upper(), hashid(made["id"])):
        status, body = await api.call("GET", f"{BASE}/executions/{good}")
        assert (status, body["id"]) == (200, made["uuid"]), good
    missing = hashid(made["id"] + 1)
    for bad in (str(made["id"]), "ext-1", missing, "0198c2e9-cc9f-7277-af8a-40c7ef19273a", "x"):
        status, body = await api.call("GET", f"{BASE}/executions/{bad}")
        assert status == 404, bad
        assert body["error"]["code"] == "not_found"  # the native error shape
    status, body = await api.call("GET", f"{BASE}/executions/{made['uuid']}", params={"x": "1"})
    assert (status, body["error"]["field"]) == (400, "x")


async def test_auth_scope_and_team_visibility(api: Api) -> None:
    ours = await api.create(token="team_a")
    theirs = await api.create(workflow_id="wf-other", team_id="team-b")
    path = f"{BASE}/executions/{ours['uuid']}"
    assert (await api.call("GET", path, token=None))[0] == 401
    assert (await api.call("GET", f"{BASE}/executions", token=None))[0] == 401
    for target in (path, f"{BASE}/executions"):
        assert (await api.call("GET", target, token="write"))[0] == 403
    for other in (theirs["uuid"], hashid(theirs["id"])):
        status, _ = await api.call("GET", f"{BASE}/executions/{other}", token="team_a")
        assert status == 404
        status, body = await api.call(
            "GET", f"{BASE}/executions", token="team_a", params={"starting_after": other}
        )
        assert (status, body["error"]["field"]) == (400, "starting_after")
    assert (await api.call("GET", path, token="team_a"))[0] == 200
    _, listed = await api.call("GET", f"{BASE}/executions", token="team_a")
    assert [row["id"] for row in listed["collection"]] == [ours["uuid"]]


async def test_the_list_is_newest_first_with_the_documents_fields(api: Api) -> None:
    first = await _create(
        api,
        "2025-07-13T05:01:14Z",
        at("execution.started", "2025-07-13T05:01:15Z"),
        at("node.started", "2025-07-13T05:01:16Z", node_id="n1"),
        at("node.completed", "2025-07-13T05:01:17Z", node_id="n1"),
        at("node.started", "2025-07-13T05:01:18Z", node_id="n2"),
        workflow_id="workflow_15",
        workflow_name="Workflow 15",
    )
    second = await api.create(occurred_at="2025-07-13T05:01:18Z", workflow_id="wf-2")
    status, body = await api.call("GET", f"{BASE}/executions", token="read")
    assert status == 200
    assert set(body) == {"collection", "meta"}
    assert body["meta"] == {"has_more": False}
    assert [row["id"] for row in body["collection"]] == [second["uuid"], first["uuid"]]
    assert all(set(row) == ITEM_FIELDS for row in body["collection"])
    row = body["collection"][1]
    assert row["hashid"] == hashid(first["id"])
    assert (row["key"], row["name"], row["object"]) == ("workflow_15", "Workflow 15", "execution")
    assert row["created_at_string"] == "Jul 13, 2025 01:01 am EDT"
    assert (row["actions_count"], row["completed_actions_count"]) == (2, 1)
    assert (row["running_actions_count"], row["idle_actions_count"]) == (1, 0)
    assert body["collection"][0]["name"] == "wf-2"  # no display or workflow name: the id
    _, detail = await api.call("GET", f"{BASE}/executions/{first['uuid']}")
    assert set(detail) == DETAIL_FIELDS
    assert {k: v for k, v in detail.items() if k in ITEM_FIELDS} == row


async def test_starting_after_walks_every_row_once(api: Api) -> None:
    made = [await api.create() for _ in range(25)]
    newest_first = [m["uuid"] for m in reversed(made)]
    _, page = await api.call("GET", f"{BASE}/executions")
    assert len(page["collection"]) == 20  # the default limit
    assert page["meta"] == {"has_more": True}
    for form in ("id", "hashid"):
        seen: list[str] = []
        query: dict[str, str] = {"limit": "7"}
        while True:
            status, page = await api.call("GET", f"{BASE}/executions", params=query)
            assert status == 200, page
            seen += [row["id"] for row in page["collection"]]
            if not page["meta"]["has_more"]:
                break
            query["starting_after"] = page["collection"][-1][form]
        assert seen == newest_first, form


async def test_ending_before_gives_the_newer_page_in_reverse_chronological_order(
    api: Api,
) -> None:
    made = [(await api.create())["uuid"] for _ in range(12)]
    newest_first = made[::-1]

    async def page(**query: str) -> tuple[list[str], bool]:
        status, body = await api.call("GET", f"{BASE}/executions", params=query)
        assert status == 200, body
        return [row["id"] for row in body["collection"]], body["meta"]["has_more"]

    # Just before the 9th newest: the 5th to 8th newest, and 4 more above them.
    assert await page(ending_before=newest_first[8], limit="4") == (newest_first[4:8], True)
    assert await page(ending_before=newest_first[3], limit="4") == (newest_first[0:3], False)
    assert await page(ending_before=newest_first[0]) == ([], False)
    assert await page(starting_after=newest_first[8], limit="4") == (newest_first[9:], False)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"starting_after": "nope"}, "starting_after"),
        ({"ending_before": ""}, "ending_before"),
        ({"starting_after": ["a", "b"]}, "starting_after"),
        ({"status": "failed"}, "status"),
        ({"cursor": "x"}, "cursor"),
    ],
)
async def test_bad_list_parameters_are_400(api: Api, query: dict[str, Any], field: str) -> None:
    status, body = await api.call("GET", f"{BASE}/executions", params=query)
    assert status == 400, body
    assert body["error"]["field"] == field


async def test_starting_after_and_ending_before_together_are_refused(api: Api) -> None:
    made = await api.create()
    both = {"starting_after": made["uuid"], "ending_before": made["uuid"]}
    status, body = await api.call("GET", f"{BASE}/executions", params=both)
    assert (status, body["error"]["field"]) == (400, "ending_before")


async def test_the_root_setting_serves_the_dialect_at_the_root(tmp_path: Path) -> None:
    async with open_api(tmp_path / "x.db", Settings(root_dialect="actions")) as api:
        made = await api.create()
        status, body = await api.call("GET", f"/api/v1/executions/{made['uuid']}", token="read")
        assert (status, body["id"]) == (200, made["uuid"])
        status, _ = await api.call("GET", f"{BASE}/executions/{made['uuid']}", token="read")
        assert status == 404
