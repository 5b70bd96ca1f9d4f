"""Schemathesis fuzzes the running server from its own /v1/openapi.json: no
5xx, and every answer's status, content type, headers and body match the
document; input the document forbids is refused with a 4xx.

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
CHECKS: Final = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
)
# Not positive_data_acceptance: a well-formed request may still be refused for
# what no schema can say (a lifecycle rule: 422; as_of with as_of_version; a
# cursor this list never issued; an event's data, which depends on its type).


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
        "--checks",
        ",".join(CHECKS),
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
        # Live streams never end, so a request to one cannot be judged by its answer;
        # tests/server/test_streams.py covers them.
        "--exclude-path-regex",
        STREAMS,
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
    fuzzed = [e for e in ENDPOINTS if not re.search(STREAMS, e.path)]
    assert tested is not None and int(tested.group(1)) >= len(fuzzed) - 1, output[-5000:]
