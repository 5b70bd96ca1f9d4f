"""``execstore token``: create prints the secret once; list shows every token
but never a secret; revoke is refused at once by every server on the file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from eventstore import EventStore
from server.cli import main as cli
from server.http.settings import Settings

from ..conftest import file_bytes, run_app, status_of

ROOT = "env-root-0123456789"


def token_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["token", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def new_file(path: Path) -> Path:
    async with EventStore(path):
        pass
    return path


async def test_token_create_prints_a_token_that_works_with_its_scope_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, root = tmp_path / "cli.db", "env-root-0123456789"
    async with EventStore(path):
        pass
    argv = ["token", "create", "--db", str(path), "--scope", "executions:read", "--team", "t"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("es_")
    secret = out[0]

    async def act(client: TestClient[Any, Any]) -> None:
        for team in ("t", "u"):
            headers = {"Authorization": f"Bearer {root}"}
            json = {"workflow_id": "wf-1", "team_id": team}
            async with client.post("/v1/executions", headers=headers, json=json) as response:
                assert response.status == 201
        assert await status_of(client, secret, "POST", "/v1/executions") == 403
        assert await status_of(client, secret, "POST", "/v1/executions/1/cancel") == 403
        headers = {"Authorization": f"Bearer {secret}"}
        async with client.get("/v1/executions", headers=headers) as response:
            assert response.status == 200
            assert [row["team_id"] for row in (await response.json())["items"]] == ["t"]

    assert await run_app(path, Settings(env_token=root), act) == []
    assert secret.encode() not in file_bytes(path)


def test_token_create_on_a_missing_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing.db"
    assert cli.main(["token", "create", "--db", str(path), "--scope", "admin"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "missing.db" in captured.err
    assert not path.exists()


def test_token_create_refuses_an_unknown_scope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["token", "create", "--db", str(tmp_path / "x.db"), "--scope", "root"])
    assert exited.value.code == 2
    assert "root" in capsys.readouterr().err


async def test_create_names_the_id_that_list_shows_and_never_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(await new_file(tmp_path / "x.db"))
    code, secret, err = token_cli(
        capsys,
        "create",
        "--db",
        db,
        "--scope",
        "executions:read",
        "--scope",
        "executions:write",
        "--team",
        "t",
        "--label",
        "ci runner",
    )
    assert code == 0
    token_id = err.split("id: ", 1)[1].split(";", 1)[0]
    code, out, _ = token_cli(capsys, "list", "--db", db)
    assert code == 0 and secret.strip() not in out
    header, row = out.splitlines()
    assert header.split() == ["ID", "SCOPES", "TEAM", "CREATED", "LAST", "USED", "LABEL"]
    cells = row.split()
    assert cells[:3] == [token_id, "executions:read,executions:write", "t"]
    assert cells[3].endswith("Z") and cells[4:] == ["never", "ci", "runner"]

    async def use(client: TestClient[Any, Any]) -> None:
        assert await status_of(client, secret.strip(), "GET", "/v1/executions") == 200

    await run_app(Path(db), Settings(env_token=ROOT), use)
    _, out, _ = token_cli(capsys, "list", "--db", db)
    assert out.splitlines()[1].split()[4].endswith("Z")  # last used: now a time


async def test_revoke_is_refused_at_once_by_a_running_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(await new_file(tmp_path / "x.db"))
    _, secret, err = token_cli(capsys, "create", "--db", db, "--scope", "executions:read")
    _, other, _ = token_cli(capsys, "create", "--db", db, "--scope", "executions:read")
    token_id = err.split("id: ", 1)[1].split(";", 1)[0]

    async def revoke_while_serving(client: TestClient[Any, Any]) -> None:
        # Used first, so the server holds it in its cache when the CLI revokes it.
        assert await status_of(client, secret.strip(), "GET", "/v1/executions") == 200
        assert token_cli(capsys, "revoke", token_id, "--db", db)[:2] == (0, f"revoked {token_id}\n")
        assert await status_of(client, secret.strip(), "GET", "/v1/executions") == 401
        assert await status_of(client, other.strip(), "GET", "/v1/executions") == 200

    await run_app(Path(db), Settings(env_token=ROOT), revoke_while_serving)
    _, out, _ = token_cli(capsys, "list", "--db", db)
    assert token_id not in out and len(out.splitlines()) == 2


async def test_revoking_an_unknown_id_is_exit_1_and_a_missing_file_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(await new_file(tmp_path / "x.db"))
    for unknown in ("0123456789ab", "not-hex", ""):
        code, out, err = token_cli(capsys, "revoke", unknown, "--db", db)
        assert (code, out) == (1, "") and "no token" in err, unknown
    missing = str(tmp_path / "missing.db")
    for argv in (["list", "--db", missing], ["revoke", "0123456789ab", "--db", missing]):
        code, out, err = token_cli(capsys, *argv)
        assert (code, out) == (2, "") and "missing.db" in err
    assert not await asyncio.to_thread(Path(missing).exists)
