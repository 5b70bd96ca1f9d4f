"""Schemathesis fuzzes the running server from its own /v1/openapi.json (every
operation, the streams included) with its default checks: no 5xx; every
answer's status, content type, headers and body match the document, each
server-sent event against its message schema; input the document forbids is
refused with a 4xx, and input it allows is accepted but where noted below.

The server is ``execstore serve`` in a process of its own on 127.0.0.1 with
demo data, so lists, exports and details are checked on realistic rows. The
fuzzer is schemathesis's CLI in a second process: its engine (coverage,
fuzzing and stateful phases) runs only there, and the exit code is the verdict.
Both are bounded: a fixed number of examples per operation, a fixed seed, one
worker, and a timeout; each process is stopped by its own pid.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from projections.queries import STATUSES
from server.native import ENDPOINTS

from ..processes import call, serving

EXAMPLES: Final = 25  # per operation and phase; about 25 s on two cores
SEED: Final = 20261122
STREAMS: Final = r"/stream$"
FUZZ_TIMEOUT: Final = 240.0
# Every default check runs on every operation, but for positive_data_acceptance
# on these: each takes requests that its schema allows and that are refused for
# what no JSON Schema can say.
BEYOND_A_SCHEMA: Final = (
    (
        "^/v1/executions(/export)?$",
        "a cursor never issued; a window whose after is past its before",
    ),
    ("^/v1/executions/[{]id[}]$", "as_of together with as_of_version"),
    # JSON Schema counts 1146.0 as an integer; the decoder does not, and says so (400).
    ("^/v1/executions(/[{]id[}]/events)?$", "an integer written as 1146.0"),
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The base URL of a server with demo data, and its admin token."""
    token = f"es_fuzz_{secrets.token_urlsafe(24)}"
    with serving(tmp_path, token, "--demo-data") as base:
        yield base, token


def _known_values(base: str, token: str) -> dict[str, list[str]]:
    """Real values for the path parameters: random ids almost never name an
    execution, so without these the fuzzer would see little but 404s."""
    ids: list[str] = []
    for status in sorted(STATUSES):
        page = call(base, token, "GET", f"/v1/executions?status={status}&limit=2")
        for item in page["items"]:
            ids += [str(item["id"]), *filter(None, [item["external_id"]])]
    assert ids, "the demo data should hold executions"
    hook = call(base, token, "POST", "/v1/workflows/wf-fuzz/webhook")
    return {"id": ids, "hash": [hook["hash"]]}


def _config(folder: Path, known: dict[str, list[str]]) -> Path:
    """A schemathesis.toml drawing each path parameter from its known values
    half the time, and fuzzing it the other half."""
    lines = []
    for name, values in known.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name in known:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    # A live stream ends only when its client leaves: asked not to follow, a
    # stream ends after what was recorded, so each answer is judged whole.
    lines += ["", "[[operations]]", f'include-path-regex = "{STREAMS}"']
    lines.append('parameters = { "query.follow" = "false" }')
    # A lifecycle rule (no completing a node that never started) depends on the
    # execution's state, which no schema knows: its 422 is a valid answer to valid data.
    lines += ["", "[checks.positive_data_acceptance]"]
    lines.append('expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]')
    for pattern, why in BEYOND_A_SCHEMA:
        lines += ["", f"# {why}", "[[operations]]", f"include-path-regex = '{pattern}'"]
        lines.append("checks.positive_data_acceptance.enabled = false")
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_the_api_survives_fuzzing_and_answers_as_documented(
    server: tuple[str, str], tmp_path: Path
) -> None:
    base, token = server
    config = _config(tmp_path, _known_values(base, token))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{base}/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",  # two tripped a race inside hypothesis; and CI has two cores
        "--generation-database",
        "none",  # nothing kept between runs: the seed alone decides
        "--request-timeout",
        "10",
        "--no-color",
    ]
    # The fuzzer's cwd is the temporary folder, so no report lands in the repo.
    try:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=FUZZ_TIMEOUT)
    except subprocess.TimeoutExpired as late:
        output = (late.stdout or b"").decode(errors="replace")
        pytest.fail(f"schemathesis ran past {FUZZ_TIMEOUT:g} s:\n{output[-20000:]}")
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, f"schemathesis exited {done.returncode}:\n{output[-20000:]}"
    # A run that silently skipped operations would pass too: every route must have been tried
    # but GET /v1/openapi.json, which schemathesis leaves out as the document's own address.
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None and int(tested.group(1)) >= len(ENDPOINTS) - 1, output[-5000:]
