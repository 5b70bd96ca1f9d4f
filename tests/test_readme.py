"""The README is what a user reads first: it must name every native route
and every ``serve`` option the code has."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from server.cli.main import _parser
from server.native import ENDPOINTS

README = (Path(__file__).parent.parent / "README.md").read_text()


def _template(path: str) -> str:
    # A path parameter may be named for the reader (``{id}``) rather than as
    # routed, and a route may be shown with its query.
    return re.sub(r"\{[^}]*\}", "{}", path.partition("?")[0])


@pytest.mark.parametrize("route", [f"{e.method} {e.path}" for e in ENDPOINTS])
def test_every_native_route_is_in_the_readme(route: str) -> None:
    documented = {_template(r) for r in re.findall(r"`((?:GET|POST|DELETE) /[^`]*)`", README)}
    assert _template(route) in documented


def _serve_options() -> list[str]:
    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    return [o for a in serve._actions for o in a.option_strings if o.startswith("--")]


@pytest.mark.parametrize("option", [o for o in _serve_options() if o != "--help"])
def test_every_serve_option_is_in_the_readme(option: str) -> None:
    assert re.search(re.escape(option) + r"\b", README), f"{option} is not in the README"
