"""Fixtures for the worker's socket tests: the fake OpenAI upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from worker_fake_openai import FakeOpenAI, serve


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve(fake.app) as root:
        yield fake, root
