"""The seed systems' API dialects: each a thin mapping onto the views, mounted
under its own prefix with the system's documented paths below it.

The native OpenAPI document describes only ``/v1``; a dialect's contract is
its system's own document.
"""
