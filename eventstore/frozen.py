"""The base of the store's Structs: values that never change once built.

Frozen, so a value can be shared between tasks, cached and encoded as is.
Subclasses add their own options; msgspec inherits ``frozen``, ``rename``,
``omit_defaults`` and ``forbid_unknown_fields``, but not ``kw_only``, which
each class that wants it states again.
"""

from __future__ import annotations

from typing import dataclass_transform

import msgspec


# msgspec inherits ``frozen`` at run time; this tells type checkers so, which
# would otherwise take a subclass that does not restate it for a mutable one.
@dataclass_transform(field_specifiers=(msgspec.field,), frozen_default=True)
class Frozen(msgspec.Struct, frozen=True):
    """An immutable value."""
