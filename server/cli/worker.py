"""One of the processes of ``serve --workers``: ``python -m server.cli.worker``.

It is started by the parent (``workers``) with its ``WorkerSpec`` in the
``EXECSTORE_WORKER`` environment variable and the admin token, if any, in
``EXECSTORE_TOKEN``, so that no secret shows in the process list. It serves
the app on the parent's port, which it shares through SO_REUSEPORT, and
writes one byte to ``ready_fd`` once it is bound, so that the parent
announces the server only when every worker accepts connections.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
from functools import partial
from typing import Final

import msgspec

from eventstore.frozen import Frozen

from ..app import create_app
from ..demo.engine import engine_context
from ..http import logs
from ..http.settings import Settings
from .serve import print_first_token, run_app

SPEC_VARIABLE: Final = "EXECSTORE_WORKER"
TOKEN_VARIABLE: Final = "EXECSTORE_TOKEN"
_PR_SET_PDEATHSIG: Final = 1  # from <sys/prctl.h>


class WorkerSpec(Frozen, kw_only=True):
    index: int  # 0 .. workers - 1, for the log
    parent: int  # the supervisor's pid
    db: str
    host: str
    port: int  # the one the parent holds, never 0
    settings: Settings  # without its env_token, which travels as EXECSTORE_TOKEN
    demo_engine: bool = False
    access_log: bool = False
    ready_fd: int | None = None  # written to once the port is bound


def command() -> list[str]:
    """A fresh interpreter, so that a worker shares no state and no event loop
    with its parent."""
    return [sys.executable, "-m", "server.cli.worker"]


def run(spec: WorkerSpec) -> int:
    _end_with_parent(spec.parent)
    logs.configure(spec.access_log)
    token = os.environ.get(TOKEN_VARIABLE) or None
    settings = msgspec.structs.replace(spec.settings, env_token=token)
    # The parent created the first token; this prints one only if every token
    # was revoked before this worker (re)started, as a lone server would.
    app = create_app(spec.db, settings, on_first_token=partial(print_first_token, []))
    if spec.demo_engine:
        app.cleanup_ctx.append(engine_context(f"http://{spec.host}:{spec.port}"))
    ready = partial(_ready, spec.ready_fd)
    try:
        asyncio.run(run_app(app, spec.host, spec.port, settings, ready, reuse_port=True))
    except OSError as refused:
        reason = refused.strerror or refused
        print(f"execstore serve: worker {spec.index}: {reason}", file=sys.stderr)
        return 1
    return 0


def _ready(fd: int | None) -> None:
    if fd is not None:
        os.write(fd, b"1")
        os.close(fd)


def _end_with_parent(parent: int) -> None:
    """Have the kernel send SIGTERM when the parent dies, even by SIGKILL: an
    orphaned worker would hold the port and the file with no one to stop it."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above took effect
        sys.exit(0)


def main() -> int:
    raw = os.environ.get(SPEC_VARIABLE)
    if raw is None:
        print("execstore worker: started only by `execstore serve --workers N`", file=sys.stderr)
        return 2
    return run(msgspec.json.decode(raw, type=WorkerSpec))


if __name__ == "__main__":
    sys.exit(main())
