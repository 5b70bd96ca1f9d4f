"""The server side of ``benchmarks.http``: ``execstore serve`` in a process of
its own on 127.0.0.1, started, waited for, and stopped by its own pid only.

With ``profile``, the same command runs under cProfile and writes its stats
when it exits (SIGTERM makes aiohttp stop gracefully, so ``main`` returns).
cProfile sees only the main thread: the event loop, where the handlers, the
rule checks, the hashing and the inserts run; COMMIT and the aiosqlite reads
run on other threads and show as waits. With ``writer_cycle``, the writer is
timed batch by batch (``benchmarks.writer_cycle``).
"""

from __future__ import annotations

import io
import json
import os
import pstats
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

HOST: Final = "127.0.0.1"
READY_TIMEOUT: Final = 120.0  # opening a large file checks its schema and views
STOP_TIMEOUT: Final = 20.0
REPO: Final = Path(__file__).resolve().parents[1]
# Run as ``python -c``: the instruments go in before the server imports its app.
_INSTRUMENTED: Final = """
import cProfile, os, sys
from pathlib import Path
if "BENCH_WRITER_OUT" in os.environ:
    from benchmarks.writer_cycle import install
    install(Path(os.environ["BENCH_WRITER_OUT"]))
from server.cli.main import main
profiler = cProfile.Profile() if "BENCH_PROFILE_OUT" in os.environ else None
if profiler is not None:
    profiler.enable()
try:
    main(sys.argv[1:])
finally:
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.environ["BENCH_PROFILE_OUT"])
"""


@dataclass(frozen=True, slots=True)
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path
    started_in: float  # seconds from spawn to the first healthy answer


def free_port() -> int:
    # The kernel picks a free port; the tiny window before the server binds
    # it is acceptable for a benchmark, and a clash fails loudly at start.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def head(base: str) -> int:
    """The log's head position, from ``/v1/health``."""
    with urllib.request.urlopen(f"{base}/v1/health", timeout=5) as response:
        found: int = json.loads(response.read())["head"]
        return found


@contextmanager
def running(
    db: Path,
    token: str,
    work: Path,
    profile: Path | None = None,
    writer_cycle: Path | None = None,
    workers: int = 1,
    options: Sequence[str] = (),
) -> Iterator[Server]:
    port = free_port()
    serve = ["serve", "--db", str(db), "--host", HOST, "--port", str(port)]
    serve += ["--workers", str(workers), *options]
    instrumented = profile is not None or writer_cycle is not None
    command = [sys.executable, *(["-c", _INSTRUMENTED] if instrumented else ["-m", "server.cli"])]
    command.extend(serve)
    env = {**os.environ, "EXECSTORE_TOKEN": token}
    if profile is not None:
        env["BENCH_PROFILE_OUT"] = str(profile)
    if writer_cycle is not None:
        env["BENCH_WRITER_OUT"] = str(writer_cycle)
    log = work / "server.log"
    start = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out)
    try:
        base = f"http://{HOST}:{port}"
        _wait_ready(process, base, log)
        yield Server(process, base, log, time.perf_counter() - start)
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{_tail(log)}")
        try:
            head(base)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"the server did not answer within {READY_TIMEOUT:g} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def profile_report(path: Path, top: int) -> str:
    """The top functions by own time and by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs()
    for key in ("tottime", "cumulative"):
        stats.sort_stats(key).print_stats(top)
    return out.getvalue()
