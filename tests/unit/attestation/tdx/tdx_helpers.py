"""Shared constants and loaders for the TDX/SGX (DCAP) unit tests."""

from __future__ import annotations

from pathlib import Path

from phala_agents.attestation.tdx import Collateral, load_collateral

DATA = Path(__file__).resolve().parents[3] / "data"
SIM_NOW = 1_750_000_000  # pinned "now" for the simulated hierarchy
SIM_ISSUE = SIM_NOW - 3600
T_V4 = 1752919234
T_SGX = 1752919277


def vector_quote(stem: str) -> bytes:
    return (DATA / f"{stem}.quote.bin").read_bytes()


def vector_collateral(stem: str) -> Collateral:
    return load_collateral((DATA / f"{stem}.collateral.json").read_text())
