"""``execstore serve``: the app on a port, with its announcements.

The URL and a first admin token are printed where a newcomer looks; on a
file that already has tokens nothing secret is printed, because the file
holds only digests.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import NamedTuple

import msgspec
from aiohttp import web

from ..app import create_app
from ..demo.data import record_demo
from ..demo.engine import engine_context
from ..http.auth import new_secret
from ..http.keys import STORE
from ..http.settings import Settings


def serve(
    db: Path,
    host: str,
    port: int,
    settings: Settings,
    *,
    demo_data: bool = False,
    demo_engine: bool = False,
    session_token: bool = False,
) -> int:
    minted = None
    if session_token and settings.env_token is None:
        # Like a notebook server's token: valid while this process runs, never stored.
        minted = new_secret()
        settings = msgspec.structs.replace(settings, env_token=minted)
    printed: list[str] = []

    def first_token(secret: str) -> None:
        printed.append(secret)
        print(f"execstore: created the first admin token (shown once): {secret}", flush=True)

    try:
        app = create_app(db, settings, on_first_token=first_token)
    except ValueError as refused:  # a setting the app cannot be built with
        print(f"execstore serve: {refused}", file=sys.stderr)
        return 2
    base = f"http://{host}:{port}"
    banner = _Banner(db, base, minted, settings.env_token, printed)
    app.cleanup_ctx.append(partial(_demo_and_banner, demo_data, banner))
    if demo_engine:  # after the store and the demo data; so stopped before the store closes
        app.cleanup_ctx.append(engine_context(base))
    try:
        web.run_app(app, host=host, port=port, print=None)
    except OSError as refused:  # the port is taken, or the host is not ours
        print(f"execstore serve: {refused.strerror or refused}", file=sys.stderr)
        return 1
    return 0


class _Banner(NamedTuple):
    db: Path
    base: str
    minted: str | None  # the session token, to print
    env_token: str | None
    printed: list[str]  # the first admin token, once printed


async def _demo_and_banner(
    demo_data: bool, banner: _Banner, app: web.Application
) -> AsyncIterator[None]:
    store = app[STORE]
    if demo_data and store.head == 0:
        count = await record_demo(store)
        print(f"execstore: recorded {count} demo executions in {banner.db}", flush=True)
    url = f"{banner.base}/v1/executions"
    print(f"execstore: serving {banner.db} on {url}", flush=True)
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
    yield
