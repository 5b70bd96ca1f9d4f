"""``execstore serve --workers N`` as processes of the test's own, on loopback,
and what the kernel says of them: each worker's children and its accepted
connections, read from /proc, so the tests add nothing to the API."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final, NamedTuple, TypeVar

from ..processes import HOST, REPO

WORKER_MODULE: Final = "server.cli.worker"
_T = TypeVar("_T")
_ESTABLISHED, _LISTEN = "01", "0A"  # TCP states as /proc/net/tcp writes them
_BANNER: Final = re.compile(rf"execstore: serving \S+ on http://{re.escape(HOST)}:(\d+)/")


class Server(NamedTuple):
    process: subprocess.Popen[bytes]
    out: Path  # its stdout, and its workers'
    err: Path  # its stderr, and its workers'

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


def start(work: Path, port: int, *options: str, env: dict[str, str] | None = None) -> Server:
    """``execstore serve`` on ``work``/e.db, its output in files (nothing has
    to drain them) and EXECSTORE_TOKEN only as ``env`` has it."""
    command = [sys.executable, "-m", "server.cli", "serve", "--db", str(work / "e.db")]
    command += ["--host", HOST, "--port", str(port), *options]
    environment = {k: v for k, v in os.environ.items() if k != "EXECSTORE_TOKEN"} | (env or {})
    out, err = work / "out.log", work / "err.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=stdout, stderr=stderr)
    return Server(process, out, err)


def stop(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> None:
    """Stop the server we started, by its PID; kill it if it takes over 20 s,
    and any of its workers it left running."""
    workers = children(process.pid)
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    end_leftovers(workers)


def end_leftovers(workers: list[int]) -> None:
    """Kill those of ``workers`` still running: left by a server that failed
    its test, they are ours to end, and no other process's."""
    for pid in workers:
        if is_worker(pid):
            os.kill(pid, signal.SIGKILL)


@contextmanager
def serving(
    work: Path, port: int, *options: str, env: dict[str, str] | None = None
) -> Iterator[tuple[Server, int]]:
    """A server up (its banner printed) and the port it serves; stopped on leaving."""
    server = start(work, port, *options, env=env)
    with ExitStack() as stack:
        stack.callback(stop, server.process)
        yield server, banner_port(server)


def banner_port(server: Server, timeout: float = 30.0) -> int:
    """The port in the banner, once printed."""
    found = wait_for(lambda: _BANNER.search(server.out.read_text()), timeout, server)
    return int(found.group(1))


def wait_for(check: Callable[[], _T | None], timeout: float, server: Server) -> _T:
    """``check``'s first true value, tried until ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s; the server said:\n{server.output()}")


def children(pid: int) -> list[int]:
    """The processes ``pid`` started and has not yet reaped."""
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:  # it has exited
        return []
    return [int(child) for child in listed.split()]


def is_worker(pid: int) -> bool:
    """Whether ``pid`` is a worker still running (not a zombie, not a reused pid)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and WORKER_MODULE.encode() in command


def get(port: int, path: str, token: str | None = None) -> int:
    """One request on a fresh connection: its status."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        return _request(connection, path, token)
    finally:
        connection.close()


def _request(connection: http.client.HTTPConnection, path: str, token: str | None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


def statuses_per_worker(
    port: int, workers: list[int], path: str, token: str | None, count: int = 40
) -> tuple[list[int], dict[int, int]]:
    """The statuses of ``count`` requests, each on a connection of its own,
    and how many of these connections each worker accepted (its sockets on
    ``port`` that are established), counted while they are all open."""
    with ExitStack() as open_connections:
        statuses = []
        for _ in range(count):
            connection = http.client.HTTPConnection(HOST, port, timeout=10)
            open_connections.callback(connection.close)
            statuses.append(_request(connection, path, token))
        established = _inodes_on(port, _ESTABLISHED)
        held = {pid: len(_socket_inodes(pid) & established) for pid in workers}
    return statuses, held


def listening(pid: int, port: int) -> bool:
    """Whether ``pid`` listens on ``port``: bound, and so given connections."""
    return bool(_socket_inodes(pid) & _inodes_on(port, _LISTEN))


def _inodes_on(port: int, state: str) -> set[str]:
    """The inodes of the TCP sockets whose local end is ``port``, in ``state``."""
    inodes: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, found, inode = fields[1], fields[3], fields[9]
        if int(local.split(":")[1], 16) == port and found == state:
            inodes.add(inode)
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:  # it has exited
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes
