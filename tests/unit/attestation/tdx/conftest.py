"""Fixtures for the TDX/SGX (DCAP) unit tests: a simulated hierarchy at a pinned time."""

from __future__ import annotations

import pytest
from tdx_helpers import SIM_ISSUE, SIM_NOW

from phala_agents.attestation.tdx import Collateral
from phala_agents.attestation.tdx.simulated import SimulatedTdx


@pytest.fixture(scope="session")
def sim() -> SimulatedTdx:
    return SimulatedTdx.generate(not_before=SIM_NOW - 86400)


@pytest.fixture(scope="session")
def sim_collateral(sim: SimulatedTdx) -> Collateral:
    return sim.collateral(issue=SIM_ISSUE)
