"""Fixtures for the client unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from phala_agents.client.keystore import KEYSTORE_ENV, PASSWORD_ENV


@pytest.fixture(autouse=True)
def _no_keystore_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own keystore or password must never leak into a test.
    monkeypatch.delenv(KEYSTORE_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


@pytest.fixture
def keystore_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def fresh_structlog() -> Iterator[None]:
    """structlog's defaults (every level passes) for capture_logs, whatever the CLI tests configured."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)
