"""phala_agents.worker: the worker runtime (token estimates, gas meter, upstream client, ledger)."""

from phala_agents.worker.ledger import Ledger, LedgerReceipt, ReceiptState
from phala_agents.worker.meter import CallerId, Charge, GasMeter, Prices, Reservation, Usage
from phala_agents.worker.tokens import (
    estimate_prompt_tokens,
    estimate_text_tokens,
    install_tiktoken_cache,
)

__all__ = [
    "CallerId",
    "Charge",
    "GasMeter",
    "Ledger",
    "LedgerReceipt",
    "Prices",
    "ReceiptState",
    "Reservation",
    "Usage",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "install_tiktoken_cache",
]
