"""Masking of sensitive values in free-form JSON (node and execution inputs and outputs).

A ``Masker`` replaces the value of every object member whose key is one of its
keys (compared after ``str.lower()``, at any depth, inside arrays too) with the
string ``"***"``, whatever that value is.

Most documents hold no such key, so a scan of the raw bytes decides first
whether a document may need masking, and only those are decoded. The scan may
answer yes wrongly (the document then comes back as the same bytes after all)
but never no wrongly, given keys of printable ASCII without ``"`` or ``\\``:

- a key written plainly appears, once the bytes are lowercased (ASCII only),
  as ``"key"``;
- a key written with escapes (``"\\u0074oken"``) can only use ``\\uXXXX`` and
  ``\\/``, as every other escape decodes to ``"``, ``\\`` or a control
  character. Its last escape is followed by plain characters up to the closing
  quote and then a colon, which ``_ESCAPED_KEY`` finds;
- the one character outside ASCII whose lowercase is ASCII is the Kelvin sign
  (``"\\u212a".lower() == "k"``), so a document holding it is decoded.

A masker with any other key decodes every document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import msgspec

DEFAULT_MASKED_KEYS: Final = frozenset({"password", "token", "secret", "api_key", "authorization"})

MASK: Final = "***"
# What a document that may hold a masked key but does not decode becomes. The
# store keeps only JSON that decodes, so this is a safety net that leaks nothing.
_MASKED_DOCUMENT: Final = msgspec.Raw(b'"***"')
_KELVIN: Final = "\u212a".encode()
_ESCAPED_KEY: Final = re.compile(rb'\\[u/][^"\\]*+"\s*+:')


def _number(text: str) -> msgspec.Raw:
    # Floats pass through as written: decoding them would refuse 1e400 and
    # respell 1.0E5, and a masked copy should differ only where it is masked.
    return msgspec.Raw(text.encode())


_decoder: Final = msgspec.json.Decoder(float_hook=_number)
_encoder: Final = msgspec.json.Encoder()


def _scannable(key: str) -> bool:
    return key.isascii() and key.isprintable() and '"' not in key and "\\" not in key


class Masker:
    """Masks the values of ``keys`` (case-insensitive) in JSON documents; build it once."""

    __slots__ = ("_keys", "_quoted", "_scan")

    def __init__(self, keys: Iterable[str] = DEFAULT_MASKED_KEYS) -> None:
        self._keys: Final = frozenset(key.lower() for key in keys)
        self._quoted: Final = tuple(b'"' + key.encode() + b'"' for key in sorted(self._keys))
        self._scan: Final = all(_scannable(key) for key in self._keys)

    @property
    def keys(self) -> frozenset[str]:
        return self._keys

    def mask(self, raw: bytes | msgspec.Raw | None) -> msgspec.Raw | None:
        """``raw`` with the value of every member named by a masked key replaced by
        ``"***"``. A document with nothing to mask comes back as the same bytes,
        never re-encoded (a ``Raw`` as the same object)."""
        if raw is None:
            return None
        if self._may_mask(raw):
            try:
                document = _decoder.decode(raw)
            except (msgspec.DecodeError, RecursionError):
                return _MASKED_DOCUMENT
            if self._mask_tree(document):
                return msgspec.Raw(_encoder.encode(document))
        return raw if isinstance(raw, msgspec.Raw) else msgspec.Raw(raw)

    def _may_mask(self, raw: bytes | msgspec.Raw) -> bool:
        if not self._keys:
            return False
        if not self._scan:
            return True
        # bytes.lower() folds ASCII only and leaves UTF-8 sequences as they are.
        lowered = bytes(raw).lower()
        return (
            any(quoted in lowered for quoted in self._quoted)
            or (not lowered.isascii() and _KELVIN in lowered)
            or (b"\\" in lowered and _ESCAPED_KEY.search(lowered) is not None)
        )

    def _mask_tree(self, document: Any) -> bool:
        """Masks the decoded ``document`` in place; True if anything was masked."""
        keys = self._keys
        masked = False
        # Explicit stacks rather than recursion: nesting depth is the producer's
        # choice. Exact type checks, since msgspec decodes to plain dicts and lists.
        objects: list[dict[str, Any]] = []
        values: list[Iterable[Any]] = [(document,)]
        while values or objects:
            while values:
                for value in values.pop():
                    kind = type(value)
                    if kind is dict:
                        objects.append(value)
                    elif kind is list:
                        values.append(value)
            if objects:
                members = objects.pop()
                if not keys.isdisjoint(map(str.lower, members)):
                    for key in members:
                        if key.lower() in keys:
                            members[key] = MASK
                            masked = True
                values.append(members.values())
        return masked
