"""``execstore serve --workers N``: N processes on one port and one file,
started and stopped as one.

The parent serves nothing itself. It refuses a bad setting or a taken port
before anything starts, then does once what must happen once: the session
token (minted here, handed to every worker in its environment), the first
admin token and the demo data (with the app opened and closed once, so
exactly as a lone server does them). Then it holds the port (``ports``),
starts the workers (``supervisor``), and prints the banner once every one of
them accepts connections. The file is the truth for tokens created later,
so each worker sees them as a lone server would.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import msgspec
from aiohttp import web

from ..http.settings import Settings
from .ports import hold_port
from .serve import Banner, announce, build
from .supervisor import Signals, Supervisor
from .worker import SPEC_VARIABLE, TOKEN_VARIABLE, WorkerSpec


def serve_workers(
    db: Path,
    host: str,
    port: int,
    settings: Settings,
    workers: int,
    *,
    demo_data: bool = False,
    demo_engine: bool = False,
    session_token: bool = False,
    access_log: bool = False,
) -> int:
    built = build(
        db, settings, demo_data=demo_data, session_token=session_token, access_log=access_log
    )
    if built is None:
        return 2
    once, settings, minted, printed = built
    try:
        held = hold_port(host, port)
    except OSError as refused:  # the port is taken, or the host is not ours
        print(f"execstore serve: {refused.strerror or refused}", file=sys.stderr)
        return 1
    with held:
        asyncio.run(_open_and_close(once))
        spec = WorkerSpec(
            index=0,
            parent=os.getpid(),
            db=str(db),
            host=host,
            port=held.port,
            settings=msgspec.structs.replace(settings, env_token=None),
            demo_engine=demo_engine,
            access_log=access_log,
        )
        base = f"http://{host}:{held.port}"
        banner = Banner(db, base, minted, settings.env_token, printed, workers)
        return _supervise(workers, spec, banner)


async def _open_and_close(app: web.Application) -> None:
    """The app's startup and cleanup with no site: the store opened (the first
    token, the demo data), then closed before any worker opens it."""
    runner = web.AppRunner(app)
    await runner.setup()
    await runner.cleanup()


def _supervise(workers: int, spec: WorkerSpec, banner: Banner) -> int:
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_VARIABLE, SPEC_VARIABLE)}
    if banner.env_token is not None:
        env[TOKEN_VARIABLE] = banner.env_token
    supervisor = Supervisor(workers, spec, env)
    with Signals() as signals:
        try:
            if not supervisor.start(signals):
                return 0 if signals.stopping else 1
            announce(banner)
            supervisor.supervise(signals)
            return 0
        except OSError as refused:  # no process could be started
            print(f"execstore serve: {refused.strerror or refused}", file=sys.stderr)
            return 1
        finally:
            supervisor.stop()
