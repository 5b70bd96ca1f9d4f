"""Query strings into the views' terms: the list filters, limits, times.

A route declares its parameters once, as ``Param`` values beside its
handler: the OpenAPI document shows them, the unknown-parameter check knows
them, and the handler parses through them (an integer's bounds are its
schema's). Each parameter is parsed by one small function that names the
parameter in its error; unknown parameters are refused rather than ignored,
so a typo (``stauts=failed``) never silently widens an audit query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from multidict import MultiMapping

from projections import ListFilter
from projections.queries import DEFAULT_LIMIT, INT64, MAX_LIMIT, MIN_LIMIT, STATUSES

from ..render.times import TimeRefused, parse_iso
from .errors import ApiError

_STRING: Final[Mapping[str, Any]] = {"type": "string"}


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a route, as the OpenAPI document describes it."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: _STRING)
    where: Literal["query", "path"] = "query"
    required: bool = False

    @classmethod
    def integer(
        cls, name: str, description: str, low: int = INT64[0], high: int = INT64[1]
    ) -> Param:
        # Always both bounds: what the parser refuses, the document must not allow.
        return cls(name, description, {"type": "integer", "minimum": low, "maximum": high})

    @classmethod
    def time(cls, name: str, description: str) -> Param:
        return cls(name, description, {"type": "string", "format": "date-time"})

    @classmethod
    def repeated(cls, name: str, description: str, items: Mapping[str, Any]) -> Param:
        return cls(name, description, {"type": "array", "items": items})

    def one(self, query: MultiMapping[str]) -> str | None:
        return one(query, self.name)

    def integer_in(self, query: MultiMapping[str]) -> int | None:
        """The value within the schema's bounds (the document's and the parser's)."""
        low = self.schema.get("minimum", INT64[0])
        return integer(query, self.name, low, self.schema.get("maximum", INT64[1]))

    def time_in(self, query: MultiMapping[str]) -> int | None:
        return time_param(query, self.name)


def path_id(description: str = "the integer id, or the external id") -> Param:
    return Param("id", description, {"type": "string", "minLength": 1}, "path", required=True)


# The list filters, in the order the document shows them; ``list_filter`` parses them.
FILTERS: Final = (
    Param("workflow_id", "only this workflow"),
    Param.repeated(
        "status",
        f"one or several of {', '.join(sorted(STATUSES))} (repeat or comma-separate)",
        {"enum": sorted(STATUSES)},
    ),
    Param("trigger", "only this trigger (webhook, schedule, manual, api, ...)"),
    Param("team_id", "only this team"),
    Param("test_mode", "true or false", {"type": "string", "enum": ["true", "false"]}),
    Param.time("created_after", "created at or after (ISO 8601)"),
    Param.time("created_before", "created at or before (ISO 8601)"),
    Param.time("started_after", "started at or after (ISO 8601)"),
    Param.time("started_before", "started at or before (ISO 8601)"),
    Param.time("finished_after", "finished at or after (ISO 8601)"),
    Param.time("finished_before", "finished at or before (ISO 8601)"),
    Param("error_code", "only failures with this error code"),
    Param("q", "display name contains this text (ASCII case-insensitive)"),
)
_TIME_WINDOWS: Final = tuple(
    (f"{moment}_after", f"{moment}_before") for moment in ("created", "started", "finished")
)
LIMIT: Final = Param.integer("limit", "rows, 1..100", MIN_LIMIT, MAX_LIMIT)
PAGING: Final = (LIMIT, Param("cursor", "the previous page's next_cursor"))


def refuse_unknown(query: MultiMapping[str], known: Iterable[Param | str]) -> None:
    allowed = frozenset(p if isinstance(p, str) else p.name for p in known)
    for name in query:
        if name not in allowed:
            raise ApiError(
                400,
                "unknown_parameter",
                f"unknown query parameter; known: {', '.join(sorted(allowed))}",
                field=name,
            )


def one(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise ApiError(400, "repeated_parameter", "give this parameter once", field=name)
    return values[0] if values else None


def list_filter(query: MultiMapping[str], team_id: str | None) -> ListFilter:
    """The list filters of a query string. ``team_id`` is the token's team,
    which overrides (and must agree with) any team asked for."""
    times: dict[str, int | None] = {}
    for after, before in _TIME_WINDOWS:
        times[after], times[before] = time_window(query, after, before)
    return ListFilter(
        workflow_id=one(query, "workflow_id"),
        statuses=statuses(query),
        trigger=one(query, "trigger"),
        team_id=team_id if team_id is not None else one(query, "team_id"),
        test_mode=boolean(query, "test_mode"),
        error_code=one(query, "error_code"),
        text=one(query, "q"),
        include_deleted=False,  # deleted executions stay out of every native list
        **times,
    )


def statuses(query: MultiMapping[str]) -> frozenset[str] | None:
    values = query.getall("status", [])
    if not values:
        return None
    names = frozenset(part.strip() for value in values for part in value.split(","))
    unknown = sorted(names - STATUSES)
    if unknown:
        raise ApiError(
            400,
            "invalid_status",
            f"{unknown[0]!r} is not one of {', '.join(sorted(STATUSES))}",
            field="status",
        )
    return names


def dialect_status(
    query: MultiMapping[str], names: Mapping[str, frozenset[str]]
) -> frozenset[str] | None:
    """``status`` as one of a dialect's own ``names``: the statuses it stands for."""
    value = one(query, "status")
    if value is None:
        return None
    if value not in names:
        message = f"{value!r} is not one of {', '.join(names)}"
        raise ApiError(400, "invalid_status", message, field="status")
    return names[value]


def boolean(query: MultiMapping[str], name: str) -> bool | None:
    value = one(query, name)
    if value is None:
        return None
    # Exactly the two words the document declares, so a client and the schema never disagree.
    if value == "true":
        return True
    if value == "false":
        return False
    raise ApiError(400, "invalid_boolean", "must be true or false", field=name)


def time_param(query: MultiMapping[str], name: str) -> int | None:
    return parse_time(one(query, name), name)


def time_window(query: MultiMapping[str], after: str, before: str) -> tuple[int | None, int | None]:
    """The bounds ``after`` and ``before`` give, inclusive; a window that ends
    before it starts is a 400 naming both, not a quietly empty answer."""
    start, end = time_param(query, after), time_param(query, before)
    if start is not None and end is not None and start > end:
        message = (
            f"{after} ({one(query, after)}) is later than {before} ({one(query, before)}):"
            " nothing can fall between them"
        )
        raise ApiError(400, "empty_window", message, field=after, rule=f"{after} <= {before}")
    return start, end


def parse_time(value: str | None, field: str) -> int | None:
    """A wire time (query, header or body) in microseconds; 400 naming ``field``."""
    if value is None:
        return None
    try:
        return parse_iso(value)
    except TimeRefused as error:
        raise ApiError(400, "invalid_time", str(error), field=field, rule=error.rule) from None


def integer(
    query: MultiMapping[str], name: str, low: int = INT64[0], high: int = INT64[1]
) -> int | None:
    value = one(query, name)
    return None if value is None else parse_integer(value, name, low, high)


def parse_integer(value: str, field: str, low: int = INT64[0], high: int = INT64[1]) -> int:
    """Plain decimal digits within ``low..high``; 400 naming ``field``."""
    # int() would accept " 7", "7_000" and 4,300 digits; a parameter is plain digits.
    digits = value[1:] if value.startswith("-") else value
    if not digits.isdigit() or not digits.isascii() or len(digits) > 19:
        raise ApiError(400, "invalid_integer", "must be an integer", field=field)
    number = int(value)
    if not low <= number <= high:
        raise ApiError(400, "invalid_range", f"must be {low} to {high}", field=field)
    return number


def limit(query: MultiMapping[str]) -> int:
    found = LIMIT.integer_in(query)
    return DEFAULT_LIMIT if found is None else found
