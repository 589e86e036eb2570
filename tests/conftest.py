"""Project-wide test fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "tests" / "data"

# Variables that would make a test depend on the machine it runs on.
_CLEARED_ENV = (
    "PHALA_AGENT_URL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    for item in items:
        path = str(item.fspath)
        if f"{os.sep}integration{os.sep}" in path:
            item.add_marker(pytest.mark.integration)
        if f"{os.sep}conformance{os.sep}" in path:
            item.add_marker(pytest.mark.conformance)


# Under `make test` every prerequisite (npm clients, llama-server, vectors) has been set up, so a
# test that skips for a missing prerequisite hides a broken set-up: it fails instead. Only a skip
# whose reason starts with "not applicable" (the case makes no sense for that parametrization) stays.
_STRICT_PREREQS = os.environ.get("PHALA_STRICT_PREREQS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    del item, call
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not (_STRICT_PREREQS and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if reason.removeprefix("Skipped: ").startswith("not applicable"):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under make test, where every prerequisite is set up: {reason}"
