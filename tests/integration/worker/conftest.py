"""Fixtures for the worker's socket tests: the fake OpenAI upstream, structlog defaults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from worker_fake_openai import FakeOpenAI, serve


@pytest.fixture(autouse=True)
def fresh_structlog() -> Iterator[None]:
    """structlog's defaults (every level, stdout), whatever an earlier CLI test configured.

    A CLI test can leave structlog writing to a stream that is closed by now.
    """
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve(fake.app) as root:
        yield fake, root
