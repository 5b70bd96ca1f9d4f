"""An answer encoded in pieces is byte for byte the answer encoded whole,
whatever its large collection holds, and no piece grows past its bound."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.render import splice
from server.render.splice import pieces


class Item(msgspec.Struct, omit_defaults=True):
    n: int
    text: str = ""


class Inner(msgspec.Struct):
    runs: dict[str, list[Item]]


class Answer(msgspec.Struct, omit_defaults=True):
    before: msgspec.Raw
    items: list[Item] = msgspec.field(default_factory=list)
    inner: Inner | None = None
    after: str = "end"


texts = st.text(max_size=20)
items = st.lists(st.builds(Item, st.integers(), texts), max_size=30)
raws = st.sampled_from([b"null", b'{"items":[]}', b'["\\u0000splice"]', b'"x"'])


@given(raws, items, st.dictionaries(texts, items, max_size=5))
def test_pieces_make_the_whole(raw: bytes, listed: list[Item], runs: dict[str, Any]) -> None:
    answer = Answer(before=msgspec.Raw(raw), items=listed, inner=Inner(runs=runs))
    whole = msgspec.json.encode(answer)
    assert b"".join(pieces(answer, ["items"])) == whole
    assert b"".join(pieces(answer, ["inner", "runs"])) == whole


def test_an_answer_without_the_collection_is_encoded_whole() -> None:
    answer = Answer(before=msgspec.Raw(b"1"))  # inner is None; items empty, left out
    whole = msgspec.json.encode(answer)
    assert list(pieces(answer, ["items"])) == [whole]
    assert list(pieces(answer, ["inner", "runs"])) == [whole]
    assert list(pieces(Item(1), ["items"])) == [msgspec.json.encode(Item(1))]


def test_no_piece_grows_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(splice, "PIECE_BYTES", 1000)
    answer = Answer(before=msgspec.Raw(b"0"), items=[Item(n, "x" * 90) for n in range(100)])
    found = list(pieces(answer, ["items"]))
    assert b"".join(found) == msgspec.json.encode(answer)
    assert len(found) > 5
    assert max(len(piece) for piece in found) <= 1000 + 120  # the bound and one item
