"""A real browser follows the log live: headless Chromium (Debian's, driven by
Playwright) opens an ``EventSource`` on ``GET /v1/stream`` of ``execstore
serve`` and receives, in order, the events this test then writes over HTTP.

The page is the server's own ``/v1/health`` with the listening script added
to it, so the stream is same-origin and no CORS header is involved: the test
checks the stream, not a cross-origin policy. EventSource cannot send an
``Authorization`` header, hence ``?access_token=``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Response, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from ..processes import call, serving

pytestmark = pytest.mark.slow

LIVE_TIMEOUT_MS: Final = 15_000
# Playwright already passes --headless, --no-sandbox (which root needs) and the
# flags that keep Chromium from calling home; no GPU here, and no QUIC through
# this machine's closed network.
CHROMIUM_ARGS: Final = ("--disable-gpu", "--disable-quic")
# Named SSE messages reach only listeners registered for their name (onmessage
# sees unnamed ones alone), so the page listens for every type written here.
TYPES: Final = (
    "execution.queued",
    "execution.started",
    "node.started",
    "node.completed",
    "execution.completed",
)
LISTEN: Final = """([url, types]) => {
    window.received = [];
    window.errors = [];
    const source = new EventSource(url);
    window.source = source;
    const keep = (e) => window.received.push({event: e.type, id: e.lastEventId, data: e.data});
    for (const type of types) source.addEventListener(type, keep);
    source.onmessage = keep;  // an unnamed message breaks the contract: keep it to show it
    source.onerror = () => window.errors.push(source.readyState);
}"""

STATE: Final = """() => ({
    received: window.received, errors: window.errors, state: window.source.readyState
})"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(
            "no Chromium on PATH: `make browser` installs Debian's package `chromium`, "
            "which needs apt-get and root rights (or sudo without a password)"
        )
    return found


@pytest.fixture
def token() -> str:
    return f"es_browser_{secrets.token_urlsafe(24)}"


@pytest.fixture
def server(tmp_path: Path, token: str) -> Iterator[str]:
    """The base URL of ``execstore serve`` on a fresh file, ``token`` its admin."""
    with serving(tmp_path, token) as base:
        yield base


@pytest.fixture
def page(server: str) -> Iterator[Page]:
    """A page of headless Chromium, closed before the server stops: an open
    stream could hold up the server's graceful shutdown."""
    executable = _chromium()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000
            )
        except PlaywrightError as failed:
            # The launch log lists every flag; what Chromium printed is the cause.
            lines = failed.message.splitlines()
            said = dict.fromkeys(line.strip(" -") for line in lines[1:] if "[err]" in line)
            cause = " | ".join([*lines[:1], *said])
            pytest.skip(f"Chromium at {executable} did not start: {cause}")
        try:
            yield browser.new_page()
        finally:
            browser.close()


class Writer:
    """Writes over HTTP and notes what the stream then owes: (type, execution
    id, position) in log order."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.written: list[tuple[str, int, int]] = []

    def create(self) -> int:
        created = call(self.base, self.token, "POST", "/v1/executions", {"workflow_id": "wf"})
        execution_id: int = created["id"]
        # Nothing else writes to this file, so the head is the queued event.
        head: int = call(self.base, self.token, "GET", "/v1/health")["head"]
        self.written.append(("execution.queued", execution_id, head))
        return execution_id

    def append(self, execution_id: int, *events: tuple[str, dict[str, Any]]) -> None:
        body = {"events": [{"type": type_, "data": data} for type_, data in events]}
        path = f"/v1/executions/{execution_id}/events"
        positions: list[int] = call(self.base, self.token, "POST", path, body)["positions"]
        assert len(positions) == len(events)
        for (type_, _), position in zip(events, positions, strict=True):
            self.written.append((type_, execution_id, position))


def _received(page: Page, count: int, stream: list[str]) -> list[dict[str, Any]]:
    """The first ``count`` events the page has, waiting for them at most
    LIVE_TIMEOUT_MS; a stream the browser gave up on fails at once."""
    with contextlib.suppress(PlaywrightTimeoutError):  # the assertions below say what is missing
        page.wait_for_function(
            "([n]) => window.received.length >= n || window.source.readyState === 2",
            arg=[count],
            timeout=LIVE_TIMEOUT_MS,
        )
    state = page.evaluate(STATE)
    assert state["state"] != 2, (
        f"the browser closed the EventSource (errors {state['errors']}); "
        f"responses to the stream: {stream}; received {state['received']}"
    )
    received: list[dict[str, Any]] = state["received"]
    assert len(received) >= count, (
        f"{len(received)} of {count} events within {LIVE_TIMEOUT_MS} ms "
        f"(stream responses {stream}, errors {state['errors']}): {received}"
    )
    return received[:count]


def test_a_browser_eventsource_receives_the_log_then_live_events(
    server: str, token: str, page: Page
) -> None:
    writer = Writer(server, token)
    # One event before the browser connects: it comes from the file (?from=0),
    # and its arrival shows the stream is open before anything is written live.
    first = writer.create()

    stream: list[str] = []

    def note(response: Response) -> None:
        if "/v1/stream" in response.url:
            kind = response.headers.get("content-type")
            stream.append(f"{response.status} {kind} {response.url.split('?')[0]}")

    page.on("response", note)
    page.goto(f"{server}/v1/health")  # the origin the script's relative URL resolves against
    query = urllib.parse.urlencode({"from": 0, "access_token": token})
    page.evaluate(LISTEN, [f"/v1/stream?{query}", list(TYPES)])
    _received(page, 1, stream)

    writer.append(first, ("execution.started", {"worker": "w1"}))
    second = writer.create()
    writer.append(
        first,
        ("node.started", {"node_id": "llm", "node_type": "llm"}),
        ("node.completed", {"node_id": "llm", "tokens": 7}),
    )
    writer.append(second, ("execution.started", {}))
    writer.append(first, ("execution.completed", {"output": {"answer": 42}}))
    got = _received(page, len(writer.written), stream)

    assert stream and stream[0].startswith("200 text/event-stream"), stream
    assert [event["event"] for event in got] == [type_ for type_, _, _ in writer.written]
    ids = [int(event["id"]) for event in got]
    assert ids == [position for _, _, position in writer.written], got
    assert all(a < b for a, b in itertools.pairwise(ids)), ids
    versions: dict[int, int] = {}
    for event, (type_, execution_id, position) in zip(got, writer.written, strict=True):
        data = json.loads(event["data"])
        assert data["position"] == position, data
        assert data["type"] == type_, data
        assert data["execution_id"] == execution_id, data
        versions[execution_id] = versions.get(execution_id, 0) + 1
        assert data["version"] == versions[execution_id], data
        assert isinstance(data["data"], dict), data
    assert json.loads(got[0]["data"])["data"]["workflow_id"] == "wf"
    assert json.loads(got[-1]["data"])["data"]["output"] == {"answer": 42}
