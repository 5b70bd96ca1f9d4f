"""Bearer tokens: scopes, an optional team, and who may see what.

A token is a random secret; the file keeps only its digest (see
``eventstore.credentials``). ``admin`` implies every other scope. A token
restricted to a team sees only that team's executions: another team's are
answered as if they did not exist, and naming another team is a 403.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from typing import Final, Literal, get_args

from aiohttp import web

from eventstore import EventStore, StorageFailed
from eventstore.credentials import digest
from eventstore.events import now_us
from eventstore.frozen import Frozen
from eventstore.recent import RecentlyUsed

from .errors import ApiError

Scope = Literal["executions:read", "executions:write", "executions:cancel", "admin"]
SCOPES: Final = frozenset(get_args(Scope))
READ: Final[Scope] = "executions:read"
WRITE: Final[Scope] = "executions:write"
CANCEL: Final[Scope] = "executions:cancel"
ADMIN: Final[Scope] = "admin"
TOKEN_PREFIX: Final = "es_"
# Positive answers only, so a token created by the CLI while the server runs is
# found on its first use; revocations empty it (see ``Authenticator``).
_CACHE_LIMIT: Final = 1024
_TOUCH_EVERY_US: Final = 60_000_000  # a token's last use is written once a minute at most
_CACHE_BYTES: Final = 1024 * 1024


class Principal(Frozen):
    scopes: frozenset[str]
    team_id: str | None = None

    def can(self, scope: Scope) -> bool:
        return ADMIN in self.scopes or scope in self.scopes

    def sees(self, team_id: str | None) -> bool:
        return self.team_id is None or self.team_id == team_id


ROOT: Final = Principal(frozenset({ADMIN}))


def new_secret() -> str:
    """256 random bits, URL-safe, with a prefix that secret scanners can spot."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class Authenticator:
    """Finds the principal behind a request's bearer token.

    The file is the truth: a token found there is cached, and the cache is
    trusted only while the file's credentials revision stays what it was when
    the cache was filled. Any revocation, by this process or another, counts
    the revision up and empties the cache at the next request, so a revoked
    token is refused at once. A token's use is written to the file at most
    once a minute (``last_used_at``).
    """

    def __init__(self, store: EventStore, env_token: str | None = None) -> None:
        self._store = store
        self._env_digest = None if not env_token else digest(env_token)
        self._known = self._empty()
        self._revision = -1  # of the file when ``_known`` was emptied
        self._touched: RecentlyUsed[bytes, int] = RecentlyUsed(_CACHE_LIMIT)

    @staticmethod
    def _empty() -> RecentlyUsed[bytes, Principal]:
        return RecentlyUsed(_CACHE_LIMIT, _CACHE_BYTES, _weight)

    async def principal(
        self,
        request: web.Request,
        scope: Scope,
        *,
        query_token: bool = False,
        key_header: str | None = None,
    ) -> Principal:
        """The caller, if its token carries ``scope``: else 401 or 403.

        ``query_token`` also takes ``?access_token=``: for event streams only,
        because a browser's EventSource cannot send an Authorization header.
        ``key_header`` also takes the token from that header (a dialect's own,
        such as n8n's ``X-N8N-API-KEY``).
        """
        secret = bearer(request)
        if secret is None and key_header is not None:
            secret = request.headers.get(key_header, "").strip() or None
        if secret is None and query_token:
            secret = request.query.get("access_token") or None
        if secret is None:
            raise ApiError(
                401,
                "unauthenticated",
                "send a token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": 'Bearer realm="execstore"'},
            )
        who = await self._lookup(secret)
        if who is None:
            raise ApiError(
                401,
                "invalid_token",
                "the token is not known",
                headers={"WWW-Authenticate": 'Bearer realm="execstore", error="invalid_token"'},
            )
        if not who.can(scope):
            raise ApiError(403, "insufficient_scope", f"the token lacks the scope {scope}")
        return who

    async def _lookup(self, secret: str) -> Principal | None:
        key = digest(secret)
        if self._env_digest is not None and hmac.compare_digest(key, self._env_digest):
            return ROOT
        revision = self._store.credentials_revision()
        if revision != self._revision:  # something was revoked: no cached yes stands
            self._known, self._revision = self._empty(), revision
        known = self._known.get(key)
        if known is None:
            record = await self._store.find_token(secret)
            if record is None:
                return None
            known = Principal(record.scopes, record.team_id)
            self._known.store(key, known)
        await self._touch(key)
        return known

    async def _touch(self, key: bytes) -> None:
        now = now_us()
        last = self._touched.get(key)
        if last is not None and now - last < _TOUCH_EVERY_US:
            return
        self._touched.store(key, now)
        # Best effort: a full disk refuses the note, never the request.
        with contextlib.suppress(StorageFailed):
            await self._store.touch_token(key, now)


def _weight(who: Principal) -> int:
    """About what a cached principal holds: its key, scopes and team."""
    return 200 + len(who.team_id or "") + sum(len(scope) for scope in who.scopes)


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def check_team(who: Principal, team_id: str | None, field: str) -> None:
    """Refuse a request that names a team the token may not touch."""
    if team_id is not None and not who.sees(team_id):
        message = f"the token is restricted to team {who.team_id}"
        raise ApiError(403, "forbidden_team", message, field=field)
