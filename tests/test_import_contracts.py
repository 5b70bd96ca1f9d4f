"""The import contracts (``[tool.importlinter]`` in pyproject.toml) hold, and
each one breaks when an import it forbids is planted in a copy of the code:
a contract that cannot fail would guard nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
PACKAGES: Final = ("eventstore", "projections", "server")
LINT_IMPORTS: Final = Path(sys.executable).parent / "lint-imports"

LAYERS: Final = "layers: server above projections above eventstore"
PARTS: Final = "server's parts: each imports only the parts below it; native and dialects apart"
DIALECTS: Final = "dialects: independent of one another"
CYCLES: Final = "no cycles between sibling modules, at any depth"

# (module to plant in, the import, the contract it must break)
PLANTS: Final = [
    ("eventstore/store.py", "import projections.views", LAYERS),
    ("projections/views.py", "import server.render.wire", LAYERS),
    ("server/dialects/snake.py", "import server.native.executions", PARTS),
    ("server/http/params.py", "import server.native.executions", PARTS),
    ("server/render/times.py", "import server.http.errors", PARTS),
    ("server/dialects/snake.py", "import server.dialects.teams.shapes", DIALECTS),
    ("server/http/errors.py", "import server.http.access", CYCLES),
    ("projections/summary_fold.py", "import projections.summary", CYCLES),
]


def lint_imports(root: Path) -> tuple[int, str]:
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def copy_of_the_code(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_contracts_hold() -> None:
    status, output = lint_imports(ROOT)
    assert status == 0, output
    assert "4 kept, 0 broken" in output


@pytest.mark.slow
@pytest.mark.parametrize(("module", "planted", "contract"), PLANTS)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, module: str, planted: str, contract: str
) -> None:
    root = copy_of_the_code(tmp_path)
    path = root / module
    # Inside a function, where no import runs when the module loads: still an import.
    path.write_text(path.read_text() + f"\n\ndef _planted() -> None:\n    {planted}\n")
    status, output = lint_imports(root)
    assert status != 0, output
    # An upward import inside server is a cycle between its parts as well.
    assert f"{contract} BROKEN" in output
