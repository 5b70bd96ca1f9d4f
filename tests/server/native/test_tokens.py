"""``/v1/tokens``: listed without secrets, revoked by id, and a revoked token
refused at once by every server on the file, this process's or another's."""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.cli import main as cli
from server.http.keys import STORE
from server.http.settings import Settings

from ..conftest import MAX_BODY, TOKENS, Api, error_of, open_api
from ..processes import serving

ROOT = "es_root_for_this_test_0123456789"


async def token_ids(api: Api, token: str = "admin") -> dict[str | None, str]:
    status, body = await api.call("GET", "/v1/tokens", token=token)
    assert status == 200, body
    return {row["label"]: row["id"] for row in body["tokens"]}


async def test_the_list_shows_each_token_never_its_secret(api: Api) -> None:
    await api.call("GET", "/v1/executions", token="read")  # used once: a last use
    status, body = await api.call("GET", "/v1/tokens")
    assert status == 200, body
    rows = {row["label"]: row for row in body["tokens"]}
    assert set(rows) == {"first start", *TOKENS}
    for label, (scopes, team) in TOKENS.items():
        row = rows[label]
        assert set(row) == {"id", "scopes", "team", "label", "created_at", "last_used_at"}
        assert (row["scopes"], row["team"]) == (sorted(scopes), team)
        assert len(row["id"]) == 12 and row["created_at"].endswith("Z")
    assert rows["read"]["last_used_at"].endswith("Z")
    assert rows["cancel"]["last_used_at"] is None
    text = str(body)
    assert not any(secret in text for secret in api.secrets.values())


async def test_a_team_admin_sees_and_revokes_its_team_only(api: Api) -> None:
    api.secrets["team_admin"] = "es_team_admin_0123456789"
    await api.store.add_token(api.secrets["team_admin"], frozenset({"admin"}), "team-a", "ta")
    assert set(await token_ids(api, "team_admin")) == {"team_a", "ta"}
    others = await token_ids(api)
    status, body = await api.call("DELETE", f"/v1/tokens/{others['read']}", token="team_admin")
    assert status == 404, body
    assert error_of(body, "not_found")["field"] == "id"
    assert (await api.call("GET", "/v1/executions", token="read"))[0] == 200


async def test_a_revoked_token_is_refused_from_the_next_request(api: Api) -> None:
    assert (await api.call("GET", "/v1/executions", token="read"))[0] == 200  # now cached
    read_id = (await token_ids(api))["read"]
    status, body = await api.call("DELETE", f"/v1/tokens/{read_id}")
    assert (status, body) == (200, {"id": read_id, "revoked": True})
    status, body = await api.call("GET", "/v1/executions", token="read")
    assert status == 401, body
    assert error_of(body, "invalid_token")
    assert "read" not in await token_ids(api)
    for again in (read_id, "0123456789ab", "xyz"):
        status, body = await api.call("DELETE", f"/v1/tokens/{again}")
        assert status == 404, (again, body)
        assert error_of(body, "not_found")["field"] == "id"
    assert (await api.call("GET", "/v1/executions", token="write"))[0] == 403  # others stand


async def test_a_token_revoked_by_one_app_is_refused_by_another_on_the_file(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shared.db"
    async with open_api(db) as first:
        other = create_app(db, Settings(max_body=MAX_BODY))
        async with TestClient(TestServer(other, host="127.0.0.1")) as client:
            second = Api(client, other[STORE], first.secrets)
            assert (await second.call("GET", "/v1/executions", token="read"))[0] == 200
            read_id = (await token_ids(first))["read"]
            assert (await first.call("DELETE", f"/v1/tokens/{read_id}"))[0] == 200
            assert (await second.call("GET", "/v1/executions", token="read"))[0] == 401
            assert (await second.call("GET", "/v1/executions", token="team_a"))[0] == 200


def _status(base: str, secret: str) -> int:
    request = urllib.request.Request(
        f"{base}/v1/executions", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.mark.slow
def test_a_serving_process_refuses_a_token_the_cli_revoked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(tmp_path, ROOT) as base:
        (db,) = tmp_path.glob("*.db")
        assert cli.main(["token", "create", "--db", str(db), "--scope", "executions:read"]) == 0
        out, err = capsys.readouterr()
        secret, token_id = out.strip(), err.split("id: ", 1)[1].split(";", 1)[0]
        assert _status(base, secret) == 200  # known to the server now, and cached
        assert cli.main(["token", "revoke", token_id, "--db", str(db)]) == 0
        assert _status(base, secret) == 401
        assert _status(base, ROOT) == 200


async def test_a_token_deleted_from_the_file_by_hand_is_refused_at_once(api: Api) -> None:
    assert (await api.call("GET", "/v1/executions", token="read"))[0] == 200  # now cached
    with closing(sqlite3.connect(api.store.path)) as conn:
        conn.execute("DELETE FROM api_tokens WHERE label = 'read'")
        conn.execute("UPDATE api_tokens SET scopes = 'executions:read' WHERE label = 'write'")
        conn.commit()
    assert (await api.call("GET", "/v1/executions", token="read"))[0] == 401
    assert (await api.call("GET", "/v1/executions", token="write"))[0] == 200
    assert (await api.call("POST", "/v1/executions", token="write", json={}))[0] == 403
