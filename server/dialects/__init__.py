"""The seed systems' API dialects: each a thin mapping onto the views, one
``Dialect`` record (see ``http.routing``), mounted under its own prefix with
the system's documented paths below it.

A new dialect is one module (or package) with a ``DIALECT`` record, and one
line here. The setting ``root_dialect`` serves one of them at the root
instead of under its prefix. The native OpenAPI document describes only
``/v1``; a dialect's contract is its system's own document. Dialects import
only the shared parts of ``server`` (``http``, ``service``, ``render``),
never the native routes nor one another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from ..http.routing import Dialect, mount_dialect
from . import actions, dify, n8n, snake, teams

DIALECTS: Final[Mapping[str, Dialect]] = {
    dialect.name: dialect
    for dialect in (
        actions.DIALECT,
        dify.DIALECT,
        n8n.DIALECT,
        snake.DIALECT,
        teams.DIALECT,
    )
}


def mount_dialects(
    app: web.Application, root: str | None, settings: Mapping[str, Mapping[str, Any]]
) -> None:
    """Mount every dialect under its prefix, and ``root`` (if named) at the
    root instead, each with its own ``settings``. An unknown dialect name, or
    a setting one does not take, raises ``ValueError`` when the app is built."""
    for name in (root, *settings):
        if name is not None and name not in DIALECTS:
            raise ValueError(f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}")
    for name, dialect in DIALECTS.items():
        mount_dialect(app, dialect, settings.get(name, {}), at_root=name == root)
