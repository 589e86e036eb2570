"""Fixtures of the runtime tests; the helpers live in ``chain_harness``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chain_harness import FakeWebsocket, MiniChain


@pytest.fixture
def chain() -> MiniChain:
    return MiniChain()


@pytest.fixture
def substrate(chain: MiniChain) -> Iterator[object]:
    from substrateinterface import SubstrateInterface

    si = SubstrateInterface(websocket=FakeWebsocket(chain), ss58_format=42)
    yield si
    si.close()
