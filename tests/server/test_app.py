"""The app factory: the store opens and closes with the app, health answers."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.http.keys import STORE


async def test_health_reports_the_head_and_the_store_keeps_its_view(tmp_path: Path) -> None:
    path = tmp_path / "executions.db"
    app = create_app(path)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/v1/health")
        assert response.status == 200
        assert await response.json() == {"status": "ok", "head": 0}
        assert app[STORE].path == path
    # The cleanup context closed the store, and it opened with the summary table.
    with closing(sqlite3.connect(path)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"events", "executions", "execution_summary"} <= tables
