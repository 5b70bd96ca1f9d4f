"""The port that ``serve --workers`` shares, held by the parent while it runs.

The parent binds it with SO_REUSEPORT and never listens on it, so the kernel
hands it no connection. Holding it resolves ``--port 0`` to one port for
every worker, keeps the port ours between a worker's death and its restart,
and refuses a taken port before anything starts.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from types import TracebackType
from typing import Any

_Address = tuple[Any, ...]  # as getaddrinfo gives it: (host, port) or (host, port, flow, scope)


class HeldPort:
    """Bound sockets, one per address of the host, all on one port."""

    def __init__(self, sockets: Sequence[socket.socket]) -> None:
        self._sockets = list(sockets)

    @property
    def port(self) -> int:
        port: int = self._sockets[0].getsockname()[1]
        return port

    def close(self) -> None:
        for held in self._sockets:
            held.close()

    def __enter__(self) -> HeldPort:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def hold_port(host: str, port: int) -> HeldPort:
    """The port on every address of ``host`` (all interfaces for ""), as the
    workers' ``create_server`` will bind it; ``OSError`` if it is taken."""
    addresses = _addresses(host, port)
    held: list[socket.socket] = []
    try:
        for family, address in addresses:
            if held:  # port 0 resolved by the first bind: the same one everywhere
                address = (address[0], held[0].getsockname()[1], *address[2:])
            held.append(_bind(family, address, reuse_port=True))
        for family, address in addresses:
            # Sockets that share a port with SO_REUSEPORT do not refuse one another,
            # so a second `--workers` server on this port would split its clients
            # with us. A plain bind is refused by any listener there, ours excepted.
            address = (address[0], held[0].getsockname()[1], *address[2:])
            _bind(family, address, reuse_port=False).close()
    except BaseException:
        for bound in held:
            bound.close()
        raise
    return HeldPort(held)


def _addresses(host: str, port: int) -> list[tuple[int, _Address]]:
    # As asyncio's create_server resolves them: an empty host means every interface.
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    unique: dict[tuple[int, _Address], None] = {}
    for family, _, _, _, address in infos:
        unique[family, tuple(address)] = None
    return list(unique)


def _bind(family: int, address: _Address, *, reuse_port: bool) -> socket.socket:
    bound = socket.socket(family, socket.SOCK_STREAM)
    try:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:  # as asyncio binds it, beside the IPv4 socket
            bound.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        bound.bind(address)
    except BaseException:
        bound.close()
        raise
    return bound
