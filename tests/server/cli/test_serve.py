"""`execstore serve` as a process: it binds to loopback, prints the URL and
the first admin token once, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from server.cli.serve import SHUTDOWN_GRACE

from ..processes import free_port

pytestmark = pytest.mark.slow


def _serve(
    db: Path, port: int, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "server.cli", "serve", "--db", str(db)]
    command += ["--host", "127.0.0.1", "--port", str(port), *extra]
    environment = {k: v for k, v in os.environ.items() if k != "EXECSTORE_TOKEN"} | (env or {})
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )


def _get(port: int, path: str, token: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as refused:
        return refused.code


def _wait_up(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if _get(port, "/v1/health") == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not come up in 20 s")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)  # ours, by its PID
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"no clean stop on SIGTERM:\n{output}") from None
    return output


def test_first_start_prints_one_admin_token_and_later_starts_do_not(tmp_path: Path) -> None:
    db, port = tmp_path / "e.db", free_port()
    first = _serve(db, port, "--demo-data")
    try:
        _wait_up(first, port)
        assert _get(port, "/v1/executions") == 401
    finally:
        output = _stop(first)
    assert f"http://127.0.0.1:{port}/v1/executions" in output
    tokens = re.findall(r"\bes_[A-Za-z0-9_-]{40,}", output)
    assert len(tokens) == 1, output
    assert "demo executions" in output

    again = _serve(db, port)
    try:
        _wait_up(again, port)
        assert _get(port, "/v1/executions?status=failed", tokens[0]) == 200
    finally:
        output = _stop(again)
    assert not re.findall(r"\bes_[A-Za-z0-9_-]{40,}", output), output
    assert "execstore token create" in output


def test_the_environment_token_is_admin_and_nothing_is_minted(tmp_path: Path) -> None:
    db, port = tmp_path / "e.db", free_port()
    process = _serve(db, port, env={"EXECSTORE_TOKEN": "root-secret-for-this-test"})
    try:
        _wait_up(process, port)
        assert _get(port, "/v1/executions", "root-secret-for-this-test") == 200
        assert _get(port, "/v1/executions", "other") == 401
    finally:
        output = _stop(process)
    assert not re.findall(r"\bes_[A-Za-z0-9_-]{40,}", output), output


def test_root_dialect_serves_that_dialect_at_the_root(tmp_path: Path) -> None:
    db, port, token = tmp_path / "e.db", free_port(), "root-secret-for-this-test"
    process = _serve(db, port, "--root-dialect", "n8n", env={"EXECSTORE_TOKEN": token})
    try:
        _wait_up(process, port)
        assert _get(port, "/api/v1/executions", token) == 200
        assert _get(port, "/compat/n8n/api/v1/executions", token) == 404
        assert _get(port, "/compat/snake/api/v1/executions", token) == 200
        assert _get(port, "/v1/executions", token) == 200
    finally:
        _stop(process)


def test_an_unknown_root_dialect_is_refused_before_serving(tmp_path: Path) -> None:
    process = _serve(tmp_path / "e.db", free_port(), "--root-dialect", "soap")
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "invalid choice: 'soap'" in output
    assert not (tmp_path / "e.db").exists()


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _serve(tmp_path / "e.db", port)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 1
    assert "execstore serve:" in output
    assert "Traceback" not in output
    # It never said it was serving: the port was never bound.
    assert "serving" not in output, output


def test_sigterm_ends_it_within_seconds_whatever_is_under_way(tmp_path: Path) -> None:
    db, port, token = tmp_path / "e.db", free_port(), "root-secret-for-this-test"
    process = _serve(db, port, "--body-timeout", "600", env={"EXECSTORE_TOKEN": token})
    try:
        _wait_up(process, port)
        with (
            socket.create_connection(("127.0.0.1", port)) as stream,
            socket.create_connection(("127.0.0.1", port)) as slow,
        ):
            stream.sendall(
                f"GET /v1/stream?access_token={token} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            )
            assert b" 200 " in stream.recv(1000)
            head = (
                "POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\n"
            )
            slow.sendall(head.encode() + b'{"workflow_id":')  # and never the rest
            started = time.monotonic()
            output = _stop(process)
            assert time.monotonic() - started < SHUTDOWN_GRACE + 5, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
