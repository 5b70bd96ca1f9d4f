"""``execstore serve --workers N``: N processes on one port and one file that
start and stop as one, each accepting the same tokens; a worker that dies is
restarted, later if it dies again at once; what must happen once (the first
token, the demo data, the demo engine) happens once."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from server.cli.main import main
from server.cli.serve import SHUTDOWN_GRACE
from server.cli.supervisor import STOP_BOUND

from ..processes import HOST, REPO, free_port
from .worker_processes import (
    Server,
    banner_port,
    children,
    end_leftovers,
    get,
    is_worker,
    listening,
    serving,
    start,
    statuses_per_worker,
    stop,
    wait_for,
)

TOKEN = "root-secret-for-this-test"
TOKEN_ENV = {"EXECSTORE_TOKEN": TOKEN}
_RESTARTED = r"worker (\d) \(pid {pid}\) was killed by SIGKILL; restarting it(?: in ([\d.]+) s)?"


def workers_up(server: Server, port: int, count: int, old: tuple[int, ...] = ()) -> list[int]:
    """The server's ``count`` workers, none of ``old``, once each listens on ``port``."""

    def up() -> list[int] | None:
        found = children(server.pid)
        fresh = len(found) == count and not set(found) & set(old)
        return found if fresh and all(listening(pid, port) for pid in found) else None

    return wait_for(up, 20, server)


def assert_every_worker_answers(port: int, workers: list[int], token: str) -> None:
    statuses, held = statuses_per_worker(port, workers, "/v1/executions", token)
    assert statuses == [200] * len(statuses)
    assert all(held[pid] > 0 for pid in workers), held
    assert sum(held.values()) == len(statuses), held  # the parent accepts none


@pytest.mark.slow
def test_workers_share_one_port_and_every_one_answers(tmp_path: Path) -> None:
    with serving(tmp_path, 0, "--workers", "2", env=TOKEN_ENV) as (server, port):
        assert port != 0
        assert get(port, "/v1/health") == 200
        workers = workers_up(server, port, 2)
        assert all(is_worker(pid) for pid in workers)
        assert_every_worker_answers(port, workers, TOKEN)
        assert get(port, "/v1/executions", "not-the-token") == 401
    banners = re.findall(r"serving .* with (\d+) workers", server.out.read_text())
    assert banners == ["2"], server.output()


@pytest.mark.slow
def test_one_worker_is_the_process_itself(tmp_path: Path) -> None:
    with serving(tmp_path, free_port(), "--workers", "1", env=TOKEN_ENV) as (server, port):
        assert get(port, "/v1/executions", TOKEN) == 200
        assert children(server.pid) == []
    assert "workers" not in server.out.read_text()


@pytest.mark.slow
def test_a_killed_worker_is_restarted_and_requests_go_on(tmp_path: Path) -> None:
    with serving(tmp_path, free_port(), "--workers", "2", env=TOKEN_ENV) as (server, port):
        workers = workers_up(server, port, 2)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)  # a worker of the server this test started
        # Reaped: it is gone from the kernel's listeners with its socket.
        wait_for(lambda: victim not in children(server.pid), 10, server)
        assert [get(port, "/v1/executions", TOKEN) for _ in range(20)] == [200] * 20
        restarted = workers_up(server, port, 2, old=(victim,))
        assert workers[1] in restarted
        assert_every_worker_answers(port, restarted, TOKEN)
    lines = re.findall(_RESTARTED.format(pid=victim), server.err.read_text())
    assert len(lines) == 1, server.output()


@pytest.mark.slow
def test_a_worker_that_dies_again_at_once_is_restarted_later(tmp_path: Path) -> None:
    with serving(tmp_path, free_port(), "--workers", "2", env=TOKEN_ENV) as (server, port):
        workers = workers_up(server, port, 2)
        first = workers[0]
        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: set(children(server.pid)) - set(workers), 10, server).pop()
        os.kill(second, signal.SIGKILL)  # before it even binds the port
        third = workers_up(server, port, 2, old=(first, second))
        assert_every_worker_answers(port, third, TOKEN)
    err = server.err.read_text()
    (index_1, delay_1), (index_2, delay_2) = (
        re.findall(_RESTARTED.format(pid=pid), err)[0] for pid in (first, second)
    )
    assert index_1 == index_2
    assert float(delay_2 or 0) > float(delay_1 or 0), err


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_to_the_parent_ends_every_worker(tmp_path: Path, signum: int) -> None:
    server = start(tmp_path, free_port(), "--workers", "3", env=TOKEN_ENV)
    workers: list[int] = []
    try:
        port = banner_port(server)
        workers = workers_up(server, port, 3)
        with ExitStack() as open_streams:
            streams = [open_streams.enter_context(_open_stream(port)) for _ in range(6)]
            started = time.monotonic()
            server.process.send_signal(signum)  # ours, by its PID
            code = server.process.wait(timeout=SHUTDOWN_GRACE + 5)
            assert time.monotonic() - started < SHUTDOWN_GRACE + 2
            # Each stream ended with its last chunk, not cut.
            assert all(_read_to_the_end(s).endswith(b"0\r\n\r\n") for s in streams)
    finally:
        stop(server.process)
        left = [pid for pid in workers if is_worker(pid)]
        end_leftovers(workers)
    assert code == 0, server.output()
    assert left == []
    assert "Traceback" not in server.output()


@pytest.mark.slow
def test_a_worker_that_does_not_stop_is_killed_after_the_bound(tmp_path: Path) -> None:
    server = start(tmp_path, free_port(), "--workers", "2", env=TOKEN_ENV)
    workers: list[int] = []
    try:
        workers = workers_up(server, banner_port(server), 2)
        os.kill(workers[0], signal.SIGSTOP)  # a worker of ours that can handle nothing now
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=STOP_BOUND + 10)
        took = time.monotonic() - started
    finally:
        stop(server.process)
        left = [pid for pid in workers if is_worker(pid)]
        end_leftovers(workers)
    assert code == 0, server.output()
    assert STOP_BOUND - 0.5 < took < STOP_BOUND + 3, took
    assert left == []
    killed = re.findall(
        rf"worker \d \(pid (\d+)\) still ran after {STOP_BOUND:g} s: killed", server.output()
    )
    assert killed == [str(workers[0])], server.output()


@pytest.mark.slow
def test_workers_end_with_a_parent_that_is_killed(tmp_path: Path) -> None:
    server = start(tmp_path, free_port(), "--workers", "2", env=TOKEN_ENV)
    workers: list[int] = []
    try:
        workers = workers_up(server, banner_port(server), 2)
    finally:
        server.process.kill()  # ours, by its PID: it can stop nothing itself
        server.process.wait()
    try:
        wait_for(lambda: not [pid for pid in workers if is_worker(pid)], 15, server)
    finally:
        end_leftovers(workers)


@pytest.mark.slow
def test_the_session_token_and_a_token_made_while_serving_work_on_every_worker(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, free_port(), "--workers", "2", "--session-token") as (server, port):
        printed = re.search(r"admin token for this run \(not stored\): (\S+)", server.output())
        assert printed is not None
        workers = workers_up(server, port, 2)
        assert_every_worker_answers(port, workers, printed.group(1))
        create = ["token", "create", "--db", str(tmp_path / "e.db"), "--scope", "executions:read"]
        made = subprocess.run(
            [sys.executable, "-m", "server.cli", *create],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert_every_worker_answers(port, workers, made.stdout.strip())
    assert "first admin token" not in server.output()


@pytest.mark.slow
def test_what_happens_once_happens_once_and_one_worker_runs_the_engine(tmp_path: Path) -> None:
    options = ("--workers", "3", "--demo-data", "--demo-engine")
    with serving(tmp_path, free_port(), *options) as (server, port):
        out = server.out.read_text()
        first = re.findall(r"created the first admin token \(shown once\): (\S+)", out)
        assert len(first) == 1, out
        assert len(re.findall(r"recorded \d+ demo executions", out)) == 1, out
        assert out.count("demo engine on") == 1, out
        assert out.index("demo engine on") < out.index("execstore: serving"), out
        workers = workers_up(server, port, 3)
        assert [_runs_the_engine(pid) for pid in workers].count(True) == 1
        assert_every_worker_answers(port, workers, first[0])
        # Triggered through whichever workers take the connections: the engine
        # picks up every one, from its own worker or another.
        executions = _trigger_a_webhook(port, first[0], times=6)

        def picked_up() -> bool:
            return all(_status(port, first[0], e) != "queued" for e in executions)

        wait_for(picked_up, 20, server)
    assert server.output().count("demo engine on") == 1


@pytest.mark.slow
def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    # A lone server's listener, then another `--workers` server's: each refuses us.
    for reuse_port in (False, True):
        with socket.socket() as taken:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
            taken.bind((HOST, 0))
            taken.listen()
            server = start(tmp_path, taken.getsockname()[1], "--workers", "2")
            try:
                assert server.process.wait(timeout=20) == 1
            finally:
                stop(server.process)
        output = server.output()
        assert "execstore serve: Address already in use" in output
        assert "Traceback" not in output and "serving" not in output, output
        assert not (tmp_path / "e.db").exists()


@pytest.mark.parametrize("count", ["0", "-2"])
def test_a_worker_count_below_one_is_an_argument_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], count: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--db", str(tmp_path / "e.db"), "--workers", count])
    assert exited.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors == [
        f"execstore serve: error: argument --workers: must be at least 1, not {count}"
    ]
    assert not (tmp_path / "e.db").exists()


def _open_stream(port: int) -> socket.socket:
    stream = socket.create_connection((HOST, port), timeout=10)
    try:
        request = f"GET /v1/stream?access_token={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n"
        stream.sendall(request.encode())
        assert b" 200 " in stream.recv(1000)
    except BaseException:
        stream.close()
        raise
    return stream


def _read_to_the_end(stream: socket.socket) -> bytes:
    received = b""
    while chunk := stream.recv(65536):
        received += chunk
    return received


def _runs_the_engine(pid: int) -> bool:
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    spec = next(v for v in environment if v.startswith(b"EXECSTORE_WORKER="))
    engine: bool = json.loads(spec.partition(b"=")[2])["demo_engine"]
    return engine


def _trigger_a_webhook(port: int, token: str, times: int) -> list[int]:
    """The executions queued by a new webhook, triggered ``times`` times."""
    made = _call(port, token, "POST", "/v1/workflows/wf-support-triage/webhook")
    path = "/" + made["url"].split("/", 3)[3] if "://" in made["url"] else made["url"]
    triggered = [_call(port, None, "POST", path, b'{"ticket_id": 4211}') for _ in range(times)]
    return [answer["execution_id"] for answer in triggered]


def _status(port: int, token: str, execution: int) -> str:
    status: str = _call(port, token, "GET", f"/v1/executions/{execution}")["status"]
    return status


def _call(port: int, token: str | None, method: str, path: str, body: bytes | None = None) -> Any:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", method=method, data=body)
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
