"""An answer encoded in pieces, so that no one encode holds the GIL for long.

msgspec encodes a value in one call that never lets go of the GIL: 32 MiB
take 15 ms at best and, on a busy machine, several times that, while the
event loop waits for its turn. An answer about a large execution has one
large collection (its nodes): ``pieces`` encodes the answer around it once,
then that collection's items a bounded number of bytes at a time, so that
between two pieces every other thread gets its turn.

The answer is encoded with a marker in the collection's place: a string
that holds a NUL and 128 random bits, which no stored payload can hold by
chance. The bytes are those of one encode of the whole answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Final

import msgspec

_encode: Final = msgspec.json.Encoder().encode
_TOKEN: Final = f"\x00splice-{uuid.uuid4().hex}"
_IN_A_LIST: Final = [msgspec.Raw(_encode(_TOKEN))]
_IN_A_DICT: Final = {_TOKEN: None}
_LIST_MARK: Final = _encode(_IN_A_LIST)  # ["\u0000splice-..."]
_DICT_MARK: Final = _encode(_IN_A_DICT)  # {"\u0000splice-...":null}
PIECE_BYTES: Final = 1024 * 1024


def pieces(answer: msgspec.Struct, path: Sequence[str]) -> Iterator[bytes]:
    """``answer`` as JSON, in pieces of about ``PIECE_BYTES``; ``path`` names
    the large collection (a list or a dict), field by field from ``answer``."""
    try:
        collection = _at(answer, path)
    except AttributeError:  # an answer of another shape (only ids, say): nothing large
        collection = None
    if not isinstance(collection, list | dict) or not collection:
        yield _encode(answer)  # an empty one may be left out of the encoding: no marker
        return
    marked = isinstance(collection, dict)
    whole = _encode(_replaced(answer, path, _IN_A_DICT if marked else _IN_A_LIST))
    mark = _DICT_MARK if marked else _LIST_MARK
    at = whole.index(mark)
    piece = [whole[: at + 1]]  # up to the collection's opening bracket
    size, first = 0, True
    for item in _items(collection):
        if size >= PIECE_BYTES:
            yield b"".join(piece)
            piece, size = [], 0
        piece.append(item if first else b"," + item)
        size += len(item)
        first = False
    piece.append(whole[at + len(mark) - 1 :])  # its closing bracket, and what follows
    yield b"".join(piece)


def _at(value: Any, path: Sequence[str]) -> Any:
    for name in path:
        value = getattr(value, name)
    return value


def _replaced(value: Any, path: Sequence[str], new: Any) -> Any:
    name, rest = path[0], path[1:]
    inner = new if not rest else _replaced(getattr(value, name), rest, new)
    return msgspec.structs.replace(value, **{name: inner})


def _items(collection: Any) -> Iterator[bytes]:
    if isinstance(collection, dict):
        for key, value in collection.items():
            yield _encode(key) + b":" + _encode(value)
    else:
        for item in collection:
            yield _encode(item)
