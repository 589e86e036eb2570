"""Fixtures for the SEV-SNP and shared attestation tests: vectors, pinned times, a simulated TEE."""

from __future__ import annotations

import datetime as dt

import pytest
from snp_vectors import SIM_START, SNP_VECTORS, SnpVector

from phala_agents.attestation.sev import ProductLine
from phala_agents.attestation.simulated import SimulatedSnp


@pytest.fixture(scope="session")
def snp_vectors() -> dict[str, SnpVector]:
    return SNP_VECTORS


@pytest.fixture(scope="session")
def snp_sim() -> SimulatedSnp:
    """One simulated Milan chip for the whole session (RSA-2048 keeps generation fast)."""
    return SimulatedSnp.generate(
        product=ProductLine.MILAN,
        chip_id=bytes(range(64)),
        not_before=SIM_START,
        validity=dt.timedelta(days=365),
        rsa_key_size=2048,
    )


@pytest.fixture(scope="session")
def snp_sim_turin() -> SimulatedSnp:
    return SimulatedSnp.generate(
        product=ProductLine.TURIN,
        chip_id=bytes(range(1, 65)),
        not_before=SIM_START,
        validity=dt.timedelta(days=365),
        rsa_key_size=2048,
    )
