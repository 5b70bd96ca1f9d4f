"""The masker: random documents against a reference, and the spellings of keys
(case, escapes, the Kelvin sign) that the byte pre-check must never miss."""

from __future__ import annotations

import random
import sys
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.render.masking import DEFAULT_MASKED_KEYS, MASK, Masker

MASKER = Masker()

# Keys that contain or resemble a masked key but are not one: they stay visible.
NEAR_MISSES = ("tokens", "prompt_tokens", "token_count", "api_keys", "passwords", "secret_", "")


def reference(value: Any, keys: frozenset[str]) -> Any:
    """What masking ``value`` should give, the plain recursive way."""
    if isinstance(value, dict):
        return {
            key: MASK if key.lower() in keys else reference(item, keys)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [reference(item, keys) for item in value]
    return value


def spell_key(key: str, rnd: random.Random, escapes: float) -> bytes:
    """A JSON string literal for ``key``, a share of its characters written as escapes."""
    parts = []
    for char in key:
        escaped = rnd.random() < escapes
        if escaped and char == "/":
            parts.append("\\/")
        elif char in '"\\' or ord(char) < 0x20 or (escaped and ord(char) <= 0xFFFF):
            parts.append(f"\\u{ord(char):04x}")
        else:
            parts.append(char)
    return b'"' + "".join(parts).encode() + b'"'


def spell(value: Any, rnd: random.Random, escapes: float) -> bytes:
    """``value`` as JSON with escaped keys and whitespace here and there."""
    space = rnd.choice([b"", b" ", b"\n  ", b"\t"])
    if isinstance(value, dict):
        members = [
            spell_key(key, rnd, escapes) + space + b":" + space + spell(item, rnd, escapes)
            for key, item in value.items()
        ]
        return b"{" + b",".join(members) + b"}"
    if isinstance(value, list):
        return b"[" + (b"," + space).join(spell(item, rnd, escapes) for item in value) + b"]"
    return msgspec.json.encode(value)


def any_case(word: str) -> st.SearchStrategy[str]:
    variants = [st.sampled_from(sorted({c.lower(), c.upper()} | _kelvin(c))) for c in word]
    return st.tuples(*variants).map("".join)


def _kelvin(char: str) -> set[str]:
    return {"\u212a"} if char == "k" else set()


masked_keys = st.sampled_from(sorted(DEFAULT_MASKED_KEYS)).flatmap(any_case)
keys = st.one_of(masked_keys, st.sampled_from(NEAR_MISSES).flatmap(any_case), st.text(max_size=6))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    # Values that spell a masked key: a pre-check may stop here, masking may not.
    masked_keys,
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=24,
)


# Any escaped key sends a document past the pre-check, so most have none.
@given(documents, st.randoms(use_true_random=False), st.sampled_from([0.0, 0.0, 0.3]))
def test_masks_exactly_the_masked_keys_values_at_any_depth(
    document: Any, rnd: random.Random, escapes: float
) -> None:
    raw = spell(document, rnd, escapes)
    masked = MASKER.mask(raw)
    assert masked is not None
    expected = reference(document, DEFAULT_MASKED_KEYS)
    assert msgspec.json.decode(masked) == expected
    if expected == document:
        assert bytes(masked) == raw


@given(
    masked_keys,
    scalars,
    st.lists(st.one_of(st.none(), keys), max_size=4),
    st.randoms(use_true_random=False),
    st.sampled_from([0.0, 0.3]),
)
def test_one_masked_key_is_found_in_any_case_and_spelling_at_any_depth(
    key: str, value: Any, path: list[str | None], rnd: random.Random, escapes: float
) -> None:
    # A document whose only possible trigger is ``key``: the pre-check alone decides.
    document: Any = {key: value}
    for wrapper in path:
        masks = wrapper is not None and wrapper.lower() in DEFAULT_MASKED_KEYS
        document = [document] if wrapper is None or masks else {wrapper: document}
    masked = MASKER.mask(spell(document, rnd, escapes))
    assert masked is not None
    assert msgspec.json.decode(masked) == reference(document, DEFAULT_MASKED_KEYS)


@given(documents)
def test_an_unmasked_raw_comes_back_as_the_same_object(document: Any) -> None:
    raw = msgspec.Raw(msgspec.json.encode(document))
    masked = MASKER.mask(raw)
    if reference(document, DEFAULT_MASKED_KEYS) == document:
        assert masked is raw
    else:
        assert masked is not raw


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b'{"\\u0074oken": "s"}', {"token": MASK}),
        (b'{"\\u0054OKEN": 1, "\\u0074okens": 2}', {"TOKEN": MASK, "tokens": 2}),
        (b'{"api\\u005fkey" : {"nested": [1]}}', {"api_key": MASK}),
        (b'{"a": "line\\n", "pass\\u0077ord"\n:\n[1, 2]}', {"a": "line\n", "password": MASK}),
        ('{"to\u212aen": true}'.encode(), {"to\u212aen": MASK}),
        (
            b'[{"x": [{"Secret": null}]}, [[{"AUTHORIZATION": "Bearer x"}]]]',
            [{"x": [{"Secret": MASK}]}, [[{"AUTHORIZATION": MASK}]]],
        ),
        (
            b'{"Api_Key": 12.5, "tokens": 51, "prompt_tokens": 3}',
            {"Api_Key": MASK, "tokens": 51, "prompt_tokens": 3},
        ),
    ],
)
def test_key_spellings(document: bytes, expected: Any) -> None:
    masked = MASKER.mask(document)
    assert masked is not None
    assert msgspec.json.decode(masked) == expected


def test_unmasked_documents_are_not_decoded_or_respelled() -> None:
    for document in (
        b'{"tokens": 51, "text": "token", "note": "\\"token\\": no key"}',
        b'{"a" : 1.0E5, "b": [ ]}',
        b'{"line": "a\\nb\\u00e9"}',
    ):
        masked = MASKER.mask(document)
        assert masked is not None
        assert bytes(masked) == document


def test_the_rest_of_a_masked_document_keeps_its_numbers_as_written() -> None:
    masked = MASKER.mask(b'{"password": "p", "big": 1e400, "f": 1.0E5, "i": 123456789012345678901}')
    assert masked is not None
    assert bytes(masked) == b'{"password":"***","big":1e400,"f":1.0E5,"i":123456789012345678901}'


def test_none_and_no_keys() -> None:
    assert MASKER.mask(None) is None
    raw = msgspec.Raw(b'{"password": 1}')
    assert Masker(()).mask(raw) is raw


def test_an_escaped_slash_in_a_configured_key_is_seen_by_the_pre_check() -> None:
    masker = Masker({"X-Api/Key"})
    masked = masker.mask(b'{"x-api\\/key": 3, "n": "a\\nb"}')
    assert masked is not None
    assert msgspec.json.decode(masked) == {"x-api/key": MASK, "n": "a\nb"}


def test_configured_keys_outside_the_pre_check_are_matched_by_decoding() -> None:
    masker = Masker({"Passwort", "パスワード", 'say "hi"', "tab\tkey"})
    masked = masker.mask(
        '{"PASSWORT": 1, "パスワード": 2, "say \\"hi\\"": 3, "TAB\\tKEY": 4, "n": 5}'.encode()
    )
    assert masked is not None
    assert msgspec.json.decode(masked) == {
        "PASSWORT": MASK,
        "パスワード": MASK,
        'say "hi"': MASK,
        "TAB\tKEY": MASK,
        "n": 5,
    }


def test_a_document_too_deep_to_decode_fails_closed() -> None:
    depth = sys.getrecursionlimit() * 10
    document = b'{"password": "p", "a": ' + b"[" * depth + b"]" * depth + b"}"
    assert MASKER.mask(document) == msgspec.Raw(b'"***"')


def test_the_walk_does_not_recurse() -> None:
    # msgspec stops at the interpreter's recursion limit, the walk must not stop short of it.
    bottom: dict[str, Any] = {"token": 1}
    tree: list[Any] = [bottom]
    for _ in range(sys.getrecursionlimit() * 5):
        tree = [tree]
    assert MASKER._mask_tree({"a": tree})
    assert bottom == {"token": MASK}


def test_only_the_kelvin_sign_lowercases_into_ascii() -> None:
    """The pre-check's premise: no other character outside ASCII can spell an ASCII key."""
    lowered_into_ascii = [
        char for char in map(chr, range(0x80, sys.maxunicode + 1)) if char.lower().isascii()
    ]
    assert lowered_into_ascii == ["\u212a"]
