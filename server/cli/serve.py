"""``execstore serve``: the app on a port, with its announcements.

The URL and a first admin token are printed where a newcomer looks, once the
port is bound; on a file that already has tokens nothing secret is printed,
because the file holds only digests. SIGTERM or SIGINT stop it: open streams
end first, requests under way get ``SHUTDOWN_GRACE`` seconds to finish.

The parts below ``serve`` are shared with ``serve --workers`` (``workers``),
whose parent prints and records what must happen once and whose workers
(``worker``) each run the app.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import sys
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Final, NamedTuple

import msgspec
from aiohttp import web

from ..app import create_app
from ..demo.data import record_demo
from ..demo.engine import engine_context
from ..http import logs
from ..http.auth import new_secret
from ..http.connections import GuardedSite
from ..http.keys import STORE
from ..http.settings import Settings

SHUTDOWN_GRACE: Final = 3.0  # seconds for requests under way when asked to stop
# Descriptors kept free of connections: the SQLite files, the commit thread's, logs.
_SPARE_DESCRIPTORS: Final = 64


def serve(
    db: Path,
    host: str,
    port: int,
    settings: Settings,
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
    app, settings, minted, printed = built
    base = f"http://{host}:{port}"
    if demo_engine:  # after the store and the demo data; so stopped before the store closes
        app.cleanup_ctx.append(engine_context(base))
    banner = Banner(db, base, minted, settings.env_token, printed)
    try:
        asyncio.run(run_app(app, host, port, settings, partial(announce, banner)))
    except OSError as refused:  # the port is taken, or the host is not ours
        print(f"execstore serve: {refused.strerror or refused}", file=sys.stderr)
        return 1
    return 0


class Built(NamedTuple):
    app: web.Application
    settings: Settings  # as the app was built with them
    minted: str | None  # the session token, to print
    printed: list[str]  # the first admin token, once the app's start created it


def build(
    db: Path, settings: Settings, *, demo_data: bool, session_token: bool, access_log: bool
) -> Built | None:
    """What every serve does first, with one worker or many: the logs, the
    session token, a connection cap within the process's descriptors, and the
    app, which creates the first admin token and records the demo data as it
    starts. None, said on stderr, for a setting the app cannot be built with."""
    logs.configure(access_log)
    settings, minted = with_session_token(settings, session_token)
    settings = within_descriptors(settings)
    printed: list[str] = []
    try:
        app = create_app(db, settings, on_first_token=partial(print_first_token, printed))
    except ValueError as refused:
        print(f"execstore serve: {refused}", file=sys.stderr)
        return None
    app.cleanup_ctx.append(partial(record_demo_data, demo_data, db))
    return Built(app, settings, minted, printed)


async def run_app(
    app: web.Application,
    host: str,
    port: int,
    settings: Settings,
    announce: Callable[[], None],
    *,
    reuse_port: bool = False,
) -> None:
    """Serve until SIGTERM or SIGINT; announce once the port is bound."""
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    try:
        site = GuardedSite(runner, host, port, settings.connections, reuse_port=reuse_port)
        await site.start()
        announce()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def with_session_token(settings: Settings, session_token: bool) -> tuple[Settings, str | None]:
    """The settings with a token minted for this run, and that token, if asked
    for and none came in ``EXECSTORE_TOKEN``."""
    if not session_token or settings.env_token is not None:
        return settings, None
    # Like a notebook server's token: valid while this process runs, never stored.
    minted = new_secret()
    return msgspec.structs.replace(settings, env_token=minted), minted


def within_descriptors(settings: Settings) -> Settings:
    """Settings whose connection cap leaves the process descriptors to spare:
    past its limit, accept() fails and every client is refused."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = soft - _SPARE_DESCRIPTORS
    limits = settings.connections
    if soft == resource.RLIM_INFINITY or limits.max_connections <= room:
        return settings
    print(
        f"execstore: at most {max(room, 1)} connections at once, not {limits.max_connections}:"
        f" the process may open {soft} files",
        flush=True,
    )
    capped = msgspec.structs.replace(limits, max_connections=max(room, 1))
    return msgspec.structs.replace(settings, connections=capped)


def print_first_token(printed: list[str], secret: str) -> None:
    printed.append(secret)
    print(f"execstore: created the first admin token (shown once): {secret}", flush=True)


class Banner(NamedTuple):
    db: Path
    base: str
    minted: str | None  # the session token, to print
    env_token: str | None
    printed: list[str]  # the first admin token, once printed
    workers: int = 1  # processes serving the port


async def record_demo_data(demo_data: bool, db: Path, app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    if demo_data and store.head == 0:
        count = await record_demo(store)
        print(f"execstore: recorded {count} demo executions in {db}", flush=True)
    yield


def announce(banner: Banner) -> None:
    url = f"{banner.base}/v1/executions"
    workers = f" with {banner.workers} workers" if banner.workers > 1 else ""
    print(f"execstore: serving {banner.db} on {url}{workers}", flush=True)
    if banner.minted is not None:
        print(f"execstore: admin token for this run (not stored): {banner.minted}", flush=True)
        print(f'  curl -H "Authorization: Bearer {banner.minted}" {url}', flush=True)
    elif banner.env_token is not None:
        print("execstore: the token in EXECSTORE_TOKEN is accepted as admin", flush=True)
    elif not banner.printed:
        print(
            "execstore: tokens exist in this file; make another with"
            f" `execstore token create --db {banner.db} --scope admin`",
            flush=True,
        )
