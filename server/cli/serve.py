"""``execstore serve``: the app on a port, with its announcements.

The URL and a first admin token are printed where a newcomer looks; on a
file that already has tokens nothing secret is printed, because the file
holds only digests.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

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
    *,
    env_token: str | None,
    demo_data: bool,
    demo_engine: bool = False,
    max_body: int,
    session_token: bool = False,
    masked_keys: tuple[str, ...] | None = None,
    root_dialect: str | None = None,
) -> int:
    printed: list[str] = []
    minted = None
    if session_token and env_token is None:
        # Like a notebook server's token: valid while this process runs, never stored.
        env_token = minted = new_secret()

    def first_token(secret: str) -> None:
        printed.append(secret)
        print(f"execstore: created the first admin token (shown once): {secret}", flush=True)

    settings = Settings(max_body=max_body, env_token=env_token, root_dialect=root_dialect)
    if masked_keys is not None:
        settings = msgspec.structs.replace(settings, masked_keys=masked_keys)
    app = create_app(db, settings, on_first_token=first_token)

    async def demo_and_banner(app: web.Application) -> AsyncIterator[None]:
        store = app[STORE]
        if demo_data and store.head == 0:
            count = await record_demo(store)
            print(f"execstore: recorded {count} demo executions in {db}", flush=True)
        url = f"http://{host}:{port}/v1/executions"
        print(f"execstore: serving {db} on {url}", flush=True)
        if minted is not None:
            print(f"execstore: admin token for this run (not stored): {minted}", flush=True)
            print(f'  curl -H "Authorization: Bearer {minted}" {url}', flush=True)
        elif env_token is not None:
            print("execstore: the token in EXECSTORE_TOKEN is accepted as admin", flush=True)
        elif not printed:
            print(
                "execstore: tokens exist in this file; make another with"
                f" `execstore token create --db {db} --scope admin`",
                flush=True,
            )
        yield

    app.cleanup_ctx.append(demo_and_banner)
    if demo_engine:  # after the store and the demo data; so stopped before the store closes
        app.cleanup_ctx.append(engine_context(f"http://{host}:{port}"))
    try:
        web.run_app(app, host=host, port=port, print=None)
    except OSError as refused:  # the port is taken, or the host is not ours
        print(f"execstore serve: {refused.strerror or refused}", file=sys.stderr)
        return 1
    return 0
