"""The HTTP face of the store, in parts: ``http`` (what every API shares),
``service`` (the writes two APIs share), ``render`` (wire shapes), ``native``
(the /v1 API), ``dialects`` (the seed systems' APIs), ``demo`` and ``cli``;
``app`` puts them on one aiohttp app.

It talks to ``projections`` and ``eventstore`` through their Python APIs and
never holds SQL.
"""
