"""Routes as data, and the one function that mounts them.

The native API is a tuple of ``Endpoint`` declarations; a dialect is one
``Dialect`` record: its name, prefix, routes, error shape, its own settings
and what to build from them. ``mount`` adds either to an app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import msgspec
from aiohttp import web

from eventstore.frozen import Frozen

from .auth import Scope
from .errors import Handler, Render, shaped

S = TypeVar("S", bound="DialectSettings")


class Routed(Protocol):
    """What a route needs to be mounted: an ``Endpoint`` or a ``Route``."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def handler(self) -> Handler: ...


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # below the dialect's prefix
    handler: Handler
    # The scope its handler asks of the caller; None: the path is the credential.
    # Declared here for readers and for tests/server/test_scopes.py, which checks
    # every route against it.
    scope: Scope | None


class DialectSettings(Frozen, forbid_unknown_fields=True):
    """The base of a dialect's own settings: a misspelt one is refused."""


class NoSettings(DialectSettings):
    """The settings of a dialect that takes none but builds something."""


@dataclass(frozen=True, slots=True)
class Setup(Generic[S]):
    """A dialect's own settings (``Settings.dialects[name]``, with their
    defaults) and what it builds from them for its handlers, when the app is
    built: a bad setting raises ``ValueError`` there, not at the first request."""

    settings: type[S]
    build: Callable[[web.Application, S], None]


@dataclass(frozen=True, slots=True)
class Dialect:
    """A seed system's API: everything it takes to serve it, in one record."""

    name: str
    prefix: str  # where it is served unless it is the root dialect
    routes: tuple[Route, ...]
    # Refusals in the system's own error shape; None keeps the native one.
    render_error: Render | None = None
    setup: Setup[Any] | None = None


def mount(
    app: web.Application,
    routes: Iterable[Routed],
    *,
    prefix: str = "",
    render_error: Render | None = None,
) -> None:
    """Add ``routes`` under ``prefix``, their refusals in ``render_error``'s shape."""
    for route in routes:
        handler = route.handler if render_error is None else shaped(route.handler, render_error)
        app.router.add_route(route.method, prefix + route.path, handler)


def mount_dialect(
    app: web.Application, dialect: Dialect, options: Mapping[str, Any], *, at_root: bool
) -> None:
    """Set ``dialect`` up with ``options`` (its settings by name) and mount it,
    at its prefix or at the root. Settings it does not take raise ``ValueError``."""
    setup = dialect.setup
    if setup is None:
        if options:
            raise ValueError(f"dialect {dialect.name!r} takes no settings, not {sorted(options)}")
    else:
        try:
            settings = msgspec.convert(options, setup.settings)
        except msgspec.ValidationError as error:
            raise ValueError(f"dialect {dialect.name!r}: {error}") from None
        setup.build(app, settings)
    prefix = "" if at_root else dialect.prefix
    mount(app, dialect.routes, prefix=prefix, render_error=dialect.render_error)
