"""Redaction of credentials from every log line, and the throttle that keeps
a flood of refusals to one line a second."""

from __future__ import annotations

import logging

import pytest

from server.http.logs import Throttled, redact


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("Authorization: Bearer es_abcdefgh12345", "Authorization: ***"),
        ("authorization=Basic dXNlcjpwYXNz", "authorization=***"),
        ('{"Authorization": "Bearer tok123"}', '{"Authorization": "***"}'),
        ("X-N8N-API-KEY: n8n_api_0123", "X-N8N-API-KEY: ***"),
        ("GET /v1/stream?access_token=abc123&from=4", "GET /v1/stream?access_token=***&from=4"),
        ("token es_0123456789abcdef in a message", "token es_*** in a message"),
        ("sent Bearer abc.def-ghi twice", "sent Bearer *** twice"),
        ("nothing to hide here: es_ is short", "nothing to hide here: es_ is short"),
    ],
)
def test_redact(text: str, redacted: str) -> None:
    assert redact(text) == redacted


def test_a_flood_is_one_line_a_second_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.throttled")
    throttled = Throttled(logger, interval=3600)
    with caplog.at_level(logging.WARNING, logger="test.throttled"):
        for index in range(5):
            throttled.warning("refused %d", index)
    assert [r.getMessage() for r in caplog.records] == ["refused 0"]
    throttled._next = 0.0  # the second has passed
    with caplog.at_level(logging.WARNING, logger="test.throttled"):
        throttled.warning("refused %d", 5)
    assert caplog.records[-1].getMessage() == "refused 5 (and 4 more like it in the last second)"
