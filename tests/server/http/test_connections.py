"""Connections to a real `execstore serve`: slow clients do not starve the
rest, deadlines and header limits answer in the one JSON shape, and no
credential reaches the log or an answer."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ..processes import serving

pytestmark = pytest.mark.slow

TOKEN = "root-secret-for-this-test"
SECRET = "es_TopSecretToken0123456789"


def connect(base: str) -> socket.socket:
    address = urlsplit(base)
    assert address.hostname is not None and address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=10)


@contextmanager
def raw(base: str) -> Iterator[socket.socket]:
    with closing(connect(base)) as sock:
        yield sock


def raw_answer(sock: socket.socket) -> bytes:
    """The whole answer ``sock`` gets, head and body (by its length, as the
    connection may stay open to drain what the client sends)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the answer ``sock`` gets."""
    head, _, body = raw_answer(sock).partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    head = data.partition(b"\r\n\r\n")[0].decode().lower()
    return int(head.split("content-length:")[1].split("\r\n")[0]) if "content-length" in head else 0


def health(base: str) -> int:
    with urllib.request.urlopen(f"{base}/v1/health", timeout=5) as response:
        status: int = response.status
        return status


def test_many_slow_clients_leave_room_for_normal_requests(tmp_path: Path) -> None:
    options = ("--max-connections", "20", "--header-timeout", "60")
    with serving(tmp_path, TOKEN, *options) as base, ExitStack() as opened:
        slow = []
        for _ in range(60):  # three times the cap, each trickling its head
            sock = opened.enter_context(closing(connect(base)))
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        # Each normal request evicts the oldest connection that sent no request.
        assert [health(base) for _ in range(10)] == [200] * 10
        for sock in slow[:30]:
            status, body = answer(sock)
            assert (status, body["error"]["code"]) == (503, "evicted")


def test_a_slow_head_and_a_slow_body_get_408(tmp_path: Path) -> None:
    options = ("--header-timeout", "0.5", "--body-timeout", "0.5")
    with serving(tmp_path, TOKEN, *options) as base:
        with raw(base) as sock:
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
            assert answer(sock) == (
                408,
                {
                    "error": {
                        "code": "header_timeout",
                        "message": "the request's head took too long",
                    }
                },
            )
        with raw(base) as sock:
            head = (
                "POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n"
            )
            sock.sendall(head.encode() + b'{"workflow_id":')
            status, body = answer(sock)
            assert (status, body["error"]["code"]) == (408, "body_timeout")
        assert health(base) == 200


def test_when_every_connection_is_busy_a_new_one_gets_503(tmp_path: Path) -> None:
    with serving(tmp_path, TOKEN, "--max-connections", "3") as base:
        with ExitStack() as opened:
            for _ in range(3):  # requests under way that never end: event streams
                stream = opened.enter_context(closing(connect(base)))
                request = f"GET /v1/stream?access_token={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n"
                stream.sendall(request.encode())
                assert b" 200 " in stream.recv(1000)
            with raw(base) as sock:
                status, body = answer(sock)
                assert (status, body["error"]["code"]) == (503, "too_many_connections")
        time.sleep(0.2)  # the streams' connections closed: room again
        assert health(base) == 200


@pytest.mark.parametrize(
    ("request_head", "status", "code"),
    [
        (
            b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 300 + b"\r\n\r\n",
            431,
            "headers_too_large",
        ),
        (
            b"GET /v1/health HTTP/1.1\r\n" + b"X-Many: a\r\n" * 10 + b"\r\n",
            431,
            "too_many_headers",
        ),
        (b"GET /v1/health HTTP/1.1\r\nHost: x\r\nA Bad Line\r\n\r\n", 400, "malformed_request"),
    ],
)
def test_header_limits_answer_in_the_one_shape(
    tmp_path: Path, request_head: bytes, status: int, code: str
) -> None:
    options = ("--max-header-bytes", "200", "--max-headers", "5")
    with serving(tmp_path, TOKEN, *options) as base, raw(base) as sock:
        sock.sendall(request_head)
        got, body = answer(sock)
        assert (got, body["error"]["code"]) == (status, code)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}


def test_no_credential_reaches_the_log_or_an_answer(tmp_path: Path) -> None:
    heads = [
        # A malformed line that holds the token, beside an Authorization header.
        f"GET /v1/executions HTTP/1.1\r\nAuthorization: Bearer {SECRET}\r\nX {SECRET}\r\n\r\n",
        # Over-long URLs carrying the token as a parameter, one under the
        # line limit (a 401, logged as access) and one over it.
        f"GET /v1/stream?access_token={SECRET}&x={'a' * 100} HTTP/1.1\r\nHost: x\r\n\r\n",
        f"GET /v1/stream?access_token={SECRET}&x={'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n",
        f"GET /compat/n8n/api/v1/executions HTTP/1.1\r\nX-N8N-API-KEY: {SECRET}\r\n\r\n",
        f"GET /v1/executions HTTP/1.1\r\nAuthorization: Basic {SECRET}\r\n\r\n",
    ]
    with serving(tmp_path, TOKEN, "--access-log") as base:
        bodies = []
        for head in heads:
            with raw(base) as sock:
                sock.sendall(head.encode())
                bodies.append(raw_answer(sock).decode(errors="replace"))
        assert health(base) == 200
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "GET /v1/" in log  # the access log was on, and wrote these requests
    assert not [b for b in bodies if SECRET in b], bodies
    assert SECRET not in log and SECRET[3:] not in log, log


def test_a_client_leaving_mid_body_is_no_fault(tmp_path: Path) -> None:
    with serving(tmp_path, TOKEN) as base:
        with raw(base) as sock:
            head = (
                "POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n"
            )
            sock.sendall(head.encode() + b'{"workflow_id": "w"')
        time.sleep(0.5)
        assert health(base) == 200
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "unhandled" not in log, log
