"""The CLI's structlog configuration: stderr resolved per call, secrets redacted."""

from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from phala_agents._logging import REDACTED, configure_logging, redact_secrets


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_lines_go_to_the_current_stderr_even_after_it_is_swapped(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging(level="info", json=True)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    structlog.get_logger().info("one")
    first.close()  # as a test runner does with its capture stream
    monkeypatch.setattr(sys, "stderr", second)
    structlog.get_logger().info("two", request_id="r1")
    line = json.loads(second.getvalue())
    assert line["event"] == "two" and line["request_id"] == "r1"


def test_secret_and_content_keys_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging(level="info", json=True)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    structlog.get_logger().info(
        "call", prompt="the secret prompt", suri="//Alice", api_key="sk-123", tokens=12, agent_id=3
    )
    text = out.getvalue()
    assert "the secret prompt" not in text and "//Alice" not in text and "sk-123" not in text
    line = json.loads(text)
    assert line["prompt"] == REDACTED and line["tokens"] == 12 and line["agent_id"] == 3


def test_redaction_keeps_the_event_name() -> None:
    event = redact_secrets(None, "info", {"event": "message_received", "messages": ["x"], "size": 3})
    assert event == {"event": "message_received", "messages": REDACTED, "size": 3}
