"""Walking the list by cursor while executions are created and progress."""

from __future__ import annotations

import asyncio

from eventstore import ExecutionQueued, ExecutionStarted, NodeCompleted, NodeStarted

from ..conftest import Api, event

EXISTING = 1000


async def test_a_cursor_walk_sees_every_older_execution_once(api: Api) -> None:
    store = api.store
    created = await asyncio.gather(
        *(
            store.create_execution(ExecutionQueued(workflow_id=f"wf-{i % 3}"))
            for i in range(EXISTING)
        )
    )
    existing = {c.execution_id for c in created}
    written: list[int] = []

    async def write(n: int) -> None:
        # A new execution over HTTP, and an old one moving on (its row changes, not its key).
        body = await api.create(workflow_id="wf-new")
        written.append(body["id"])
        old = created[n % EXISTING].execution_id
        await store.append(old, [ExecutionStarted(), NodeStarted(node_id="a")])
        await store.append(old, [NodeCompleted(node_id="a", tokens=3)])

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "20"} | ({"cursor": cursor} if cursor else {})
        # Each page is read while writes are in flight.
        (status, page), _ = await asyncio.gather(
            api.call("GET", "/v1/executions", params=params), write(pages)
        )
        assert status == 200, page
        seen.extend(row["id"] for row in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(written) == pages >= EXISTING // 20
    assert len(seen) == len(set(seen)), "an execution was seen twice"
    assert existing <= set(seen), f"missing: {sorted(existing - set(seen))[:10]}"
    # Newest first throughout: ids (assigned in creation order) only go down.
    assert seen == sorted(seen, reverse=True)


async def test_a_status_filtered_walk_never_repeats_while_rows_change_status(api: Api) -> None:
    ids = [(await api.create(events=[event("execution.started")]))["id"] for _ in range(60)]
    seen: list[int] = []
    cursor: str | None = None
    step = 0
    while True:
        params = {"limit": "7", "status": "running"} | ({"cursor": cursor} if cursor else {})
        _, page = await api.call("GET", "/v1/executions", params=params)
        seen.extend(row["id"] for row in page["items"])
        # Finish one execution not yet reached, and one already seen.
        for target in (ids[step], ids[-1 - step]):
            await api.append(target, event("execution.completed"))
        step += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    finished_early = set(ids[:step])
    # Every execution still running when the walk reached it was seen.
    assert set(ids) - finished_early <= set(seen) | finished_early
