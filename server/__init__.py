"""The HTTP face of the store: the aiohttp app, its routes and the CLI.

It talks to ``projections`` and ``eventstore`` through their Python APIs and
never holds SQL.
"""
