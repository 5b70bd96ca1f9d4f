"""``execstore``'s arguments: a dialect's own settings from the command line,
refused before anything is served when they are malformed or unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli.main import main

from ..processes import call, serving


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("soap.utc_offset=+01:00", "unknown dialect 'soap'"),
        ("snake.offset=+01:00", "dialect 'snake': Object contains unknown field `offset`"),
        ("snake.utc_offset=JST", "expected a UTC offset such as +09:00, not 'JST'"),
        ("actions.time_zone=Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("n8n.anything=1", "dialect 'n8n' takes no settings, not ['anything']"),
    ],
)
def test_a_bad_dialect_setting_is_refused_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, message: str
) -> None:
    db = tmp_path / "e.db"
    assert main(["serve", "--db", str(db), "--dialect-setting", setting]) == 2
    assert message in capsys.readouterr().err
    assert not db.exists()


@pytest.mark.parametrize("setting", ["snake", "snake.utc_offset", "=x", ".a=b", "snake.=x"])
def test_a_malformed_dialect_setting_is_an_argument_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--db", str(tmp_path / "e.db"), "--dialect-setting", setting])
    assert exited.value.code == 2
    assert "expected NAME.KEY=VALUE" in capsys.readouterr().err


@pytest.mark.slow
def test_a_dialect_setting_reaches_the_dialect(tmp_path: Path) -> None:
    token = "root-secret-for-this-test"
    with serving(tmp_path, token, "--dialect-setting", "snake.utc_offset=-05:30") as base:
        started = {"type": "execution.started", "occurred_at": "2026-05-07T01:00:00Z"}
        created = call(
            base, token, "POST", "/v1/executions", {"workflow_id": "w", "events": [started]}
        )
        detail = call(base, token, "GET", f"/compat/snake/api/v1/executions/{created['id']}")
    assert detail["started_at"] == "2026-05-06T19:30:00-05:30"
