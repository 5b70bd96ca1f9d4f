"""The seed systems' API dialects: each a thin mapping onto the views, mounted
under its own prefix with the system's documented paths below it.

Every dialect module has a ``PREFIX`` and a ``mount(app, prefix)``; the
setting ``root_dialect`` mounts one of them at the root instead of under its
prefix. The native OpenAPI document describes only ``/v1``; a dialect's
contract is its system's own document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from aiohttp import web

from . import actions, dify, n8n, snake, teams

Mount = Callable[[web.Application, str], None]
DIALECTS: Final[Mapping[str, tuple[str, Mount]]] = {
    "actions": (actions.PREFIX, actions.mount),
    "dify": (dify.PREFIX, dify.mount),
    "n8n": (n8n.PREFIX, n8n.mount),
    "snake": (snake.PREFIX, snake.mount),
    "teams": (teams.PREFIX, teams.mount),
}


def mount_dialects(app: web.Application, root: str | None) -> None:
    """Mount every dialect under its prefix, and ``root`` (if named) at the
    root instead; an unknown name raises ``ValueError`` when the app is built."""
    if root is not None and root not in DIALECTS:
        raise ValueError(f"unknown dialect {root!r}; known: {', '.join(DIALECTS)}")
    for name, (prefix, mount) in DIALECTS.items():
        mount(app, "" if name == root else prefix)
