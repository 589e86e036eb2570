"""Fixtures for the client unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from phala_agents.client.keystore import KEYSTORE_ENV, PASSWORD_ENV


@pytest.fixture(autouse=True)
def _no_keystore_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own keystore or password must never leak into a test.
    monkeypatch.delenv(KEYSTORE_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


@pytest.fixture
def keystore_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"
