"""Shared by the CLI tests: what a fake dev chain answers (a uniquely named module, not conftest)."""

from __future__ import annotations

from phala_agents.client import ChainStatus


def fake_chain_status(*, dev: bool = True) -> ChainStatus:
    """The status of a small dev chain at block #5 (#4 finalized)."""
    return ChainStatus(
        url="ws://fake",
        chain="Development",
        chain_type="Development",
        node_name="fake",
        node_version="1",
        spec_name="phala-agents",
        spec_version=1,
        transaction_version=1,
        genesis_hash="0x" + "00" * 32,
        best_number=5,
        best_hash="0x" + "05" * 32,
        finalized_number=4,
        finalized_hash="0x" + "04" * 32,
        metadata_hash="0x" + "aa" * 32,
        ss58_format=42,
        token_symbol="UNIT",
        token_decimals=12,
        dev_chain=dev,
    )
