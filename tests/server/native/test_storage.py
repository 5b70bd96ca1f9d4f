"""A full disk (the file held at its size with PRAGMA max_page_count, so no
root is needed): writes get 507 storage_full with Retry-After and one log
line, nothing acknowledged is lost, and writes resume once there is room. A file
held by another process's writer past the store's bound: 503 storage_busy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from eventstore import StorageFull, StorageUnavailable, StoreBusy
from eventstore.errors import storage_failure
from eventstore.writelock import held
from server.http.settings import Settings

from ..conftest import MAX_BODY, Api, error_of, event, open_api


def hold_at_its_size(api: Api) -> int:
    """Let the file grow no more; the page count it had."""
    conn = api.store._live_writer()._conn
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    return int(pages)


async def test_a_full_disk_is_a_507_and_writes_resume_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_api(tmp_path / "x.db") as api:
        kept = [await api.create(events=[event("execution.started")]) for _ in range(3)]
        head = api.store.head
        hold_at_its_size(api)
        big = {"text": "x" * 20_000}  # needs new pages
        with caplog.at_level(logging.WARNING, logger="execstore.server"):
            for _ in range(3):
                status, body = await api.call(
                    "POST",
                    "/v1/executions",
                    json={
                        "workflow_id": "wf",
                        "input": big,
                    },
                )
                assert status == 507, body
                assert error_of(body, "storage_full")["message"].startswith("the disk")
            path = f"/v1/executions/{kept[0]['id']}/events"
            async with api.client.post(
                path,
                json={"events": [event("node.started", node_id="n", input=big)]},
                headers=api.auth("admin"),
            ) as response:
                assert response.status == 507
                assert response.headers["Retry-After"] == "30"
        assert api.store.head == head
        lines = [r for r in caplog.records if r.name == "execstore.server"]
        assert lines and all(r.exc_info is None and r.levelno == logging.WARNING for r in lines)
        assert len(lines) == 1  # four refusals within a second: one line
        # Room again: the same server writes, and what it acknowledged is all there.
        api.store._live_writer()._conn.execute("PRAGMA max_page_count = 1073741823")
        again = await api.create(input=big)
        assert again["id"] == kept[-1]["id"] + 1
        status, listed = await api.call("GET", "/v1/executions")
        assert [item["id"] for item in listed["items"]] == [
            again["id"],
            *[k["id"] for k in kept][::-1],
        ]
        assert (await api.store.verify()).ok


@pytest.mark.parametrize(
    ("errorcode", "expected"),
    [
        (13, StorageFull),
        (13 | (1 << 8), StorageFull),
        (10, StorageUnavailable),
        (10 | (3 << 8), StorageUnavailable),
        (5, StoreBusy),  # SQLITE_BUSY: a writer that skips the store's lock held it too long
        (5 | (2 << 8), StoreBusy),
        (1, None),
        (19, None),
    ],
)
def test_which_sqlite_errors_are_the_disks(errorcode: int, expected: type | None) -> None:
    error = Exception("from sqlite")
    error.sqlite_errorcode = errorcode  # type: ignore[attr-defined]
    found = storage_failure(error)
    assert (None if found is None else type(found)) is expected
    assert storage_failure(Exception("no code")) is None


async def test_a_file_held_by_another_writer_past_the_bound_is_a_503(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with open_api(path, Settings(max_body=MAX_BODY, lock_timeout=0.2)) as api:
        kept = await api.create()
        head = api.store.head
        with held(path):  # as another process's writer, for longer than the bound
            status, body = await api.call("POST", "/v1/executions", json={"workflow_id": "wf"})
            assert status == 503, body
            assert "0.2 s" in error_of(body, "storage_busy")["message"]
            async with api.client.post(
                f"/v1/executions/{kept['id']}/events",
                json={"events": [event("execution.started")]},
                headers=api.auth("admin"),
            ) as response:
                assert response.status == 503
                assert response.headers["Retry-After"] == "1"
        assert api.store.head == head
        assert (await api.create())["id"] == kept["id"] + 1  # let go: writes go on
