"""`execstore serve` as a process of the test's own, on loopback: a free
port, waiting until it answers, and stopping it by its PID."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import pytest

HOST: Final = "127.0.0.1"
REPO: Final = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def ready(process: subprocess.Popen[Any], base: str, timeout: float = 30.0) -> bool:
    """Whether the server at ``base`` answered its health check before it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/v1/health", timeout=2):
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    return False


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()  # ours, by its PID; aiohttp stops gracefully on SIGTERM
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serving(work: Path, token: str, *options: str, timeout: float = 30.0) -> Iterator[str]:
    """The base URL of ``execstore serve`` on a fresh file in ``work``, with
    ``token`` as its admin token and ``options`` added; stopped on leaving."""
    env = {**os.environ, "EXECSTORE_TOKEN": token}
    log = work / "server.log"
    # A port picked here may be taken before the server binds it: try another.
    for _ in range(3):
        port = free_port()
        command = [sys.executable, "-m", "server.cli", "serve", "--host", HOST]
        command += ["--port", str(port), "--db", str(work / f"{port}.db"), *options]
        # A file, not a pipe: nothing has to drain it while the test runs.
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out)
        base = f"http://{HOST}:{port}"
        try:
            if ready(process, base, timeout):
                yield base
                return
        finally:
            stop(process)
    pytest.fail(f"the server did not start:\n{log.read_text(errors='replace')[-3000:]}")


def call(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    """One JSON request with ``token``; the decoded answer, which must be a 200 or 201."""
    request = urllib.request.Request(
        f"{base}{path}",
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        data=None if body is None else json.dumps(body).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201), response.status
        return json.loads(response.read())
