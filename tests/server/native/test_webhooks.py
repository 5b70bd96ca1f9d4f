"""Webhook triggers: an unguessable hash per workflow; a POST queues an execution."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest

from eventstore import EventStore, credentials

from ..conftest import Api, open_api


async def _hook(api: Api, workflow_id: str = "wf-orders", token: str = "write") -> str:
    status, body = await api.call("POST", f"/v1/workflows/{workflow_id}/webhook", token=token)
    assert status == 201, body
    assert body["workflow_id"] == workflow_id
    assert body["url"] == f"/v1/webhooks/{body['hash']}"
    return str(body["url"])


async def test_each_hash_is_new_and_at_least_128_bits(api: Api) -> None:
    urls = {await _hook(api) for _ in range(20)}
    assert len(urls) == 20
    for url in urls:
        secret = url.rsplit("/", 1)[1]
        assert len(bytes.fromhex(secret)) * 8 >= 128


async def test_a_trigger_queues_the_workflow_with_the_body_as_input(api: Api) -> None:
    url = await _hook(api)
    body = b'{"order": 17, "note": "\\u00e9t\\u00e9", "items": [1, 2.5]}'
    status, accepted = await api.call("POST", url, token=None, data=body, params=None)
    assert status == 202
    assert accepted["success"] is True
    assert accepted["captured"] is False
    assert accepted["message"] == "Workflow execution started"
    _, detail = await api.call("GET", f"/v1/executions/{accepted['execution_id']}")
    assert (detail["workflow_id"], detail["trigger"], detail["status"]) == (
        "wf-orders",
        "webhook",
        "queued",
    )
    assert detail["input"] == {"order": 17, "note": "été", "items": [1, 2.5]}
    # The stored input is the bytes that came in, not a re-encoding of them.
    events = await api.store.read_execution(accepted["execution_id"])
    assert body in bytes(events[0].data)


async def test_an_empty_body_queues_with_a_null_input(api: Api) -> None:
    url = await _hook(api)
    status, accepted = await api.call("POST", url, token=None)
    assert status == 202
    _, detail = await api.call("GET", f"/v1/executions/{accepted['execution_id']}")
    assert detail["input"] is None


async def test_an_unknown_hash_is_404_and_records_nothing(api: Api) -> None:
    url = await _hook(api)
    before = api.store.head
    for wrong in (url[:-1] + ("0" if url[-1] != "0" else "1"), "/v1/webhooks/abc"):
        status, body = await api.call("POST", wrong, token=None, json={"a": 1})
        assert status == 404
        assert body["error"]["field"] == "hash"
    assert api.store.head == before


async def test_invalid_json_is_400_and_records_nothing(api: Api) -> None:
    url = await _hook(api)
    before = api.store.head
    status, body = await api.call("POST", url, token=None, data=b'{"a": ')
    assert status == 400
    assert body["error"]["code"] == "invalid_json"
    assert api.store.head == before


async def test_hashes_are_compared_in_constant_time(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await _hook(api)
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    status, _ = await api.call("POST", url, token=None, json={})
    assert status == 202
    secret = url.rsplit("/", 1)[1]
    assert compared == [(credentials.digest(secret), credentials.digest(secret))]


# Several per workflow, listed without hashes, revoked by id


async def _made(api: Api, workflow_id: str, token: str = "write") -> dict[str, str]:
    status, body = await api.call("POST", f"/v1/workflows/{workflow_id}/webhook", token=token)
    assert status == 201, body
    return dict(body)


async def _listed(api: Api, workflow_id: str, token: str = "write") -> list[dict[str, str]]:
    status, body = await api.call("GET", f"/v1/workflows/{workflow_id}/webhooks", token=token)
    assert status == 200, body
    return list(body["webhooks"])


async def test_a_new_webhook_keeps_the_old_one_until_it_is_revoked(api: Api) -> None:
    old, new = await _made(api, "wf-orders"), await _made(api, "wf-orders")
    await _made(api, "wf-other")
    listed = await _listed(api, "wf-orders")
    assert [hook["id"] for hook in listed] == [old["id"], new["id"]]
    assert all(set(hook) == {"id", "workflow_id", "created_at"} for hook in listed)
    assert old["hash"] not in str(listed) and new["hash"] not in str(listed)
    for hook in (old, new):
        assert (await api.call("POST", hook["url"], token=None))[0] == 202

    status, body = await api.call("DELETE", f"/v1/webhooks/{old['id']}", token="write")
    assert (status, body) == (200, {"id": old["id"], "revoked": True})
    status, body = await api.call("POST", old["url"], token=None)
    assert status == 404, body
    assert (await api.call("POST", new["url"], token=None))[0] == 202
    assert [hook["id"] for hook in await _listed(api, "wf-orders")] == [new["id"]]
    # Its hash names it too; either way, a revoked one is gone.
    status, body = await api.call("DELETE", old["url"], token="write")
    assert status == 404 and body["error"]["field"] == "id", body
    assert (await api.call("DELETE", new["url"], token="write"))[0] == 200


async def test_a_team_sees_and_revokes_its_own_webhooks_only(api: Api) -> None:
    theirs, mine = await _made(api, "wf-1", "admin"), await _made(api, "wf-1", "team_a")
    assert [hook["id"] for hook in await _listed(api, "wf-1", "team_a")] == [mine["id"]]
    assert len(await _listed(api, "wf-1", "admin")) == 2
    status, body = await api.call("DELETE", f"/v1/webhooks/{theirs['id']}", token="team_a")
    assert status == 404, body
    assert (await api.call("POST", theirs["url"], token=None))[0] == 202


async def test_a_webhook_revoked_by_one_app_is_refused_by_another_on_the_file(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shared.db"
    async with open_api(db) as first, EventStore(db) as other_store:
        hook = await _made(first, "wf-1")
        assert (await first.call("POST", hook["url"], token=None))[0] == 202
        assert await other_store.revoke_webhook(hook["id"])
        assert (await first.call("POST", hook["url"], token=None))[0] == 404
