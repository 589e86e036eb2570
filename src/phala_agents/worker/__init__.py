"""phala_agents.worker: the worker runtime (token estimates, gas meter, upstream client, ledger)."""

from phala_agents.worker.tokens import (
    estimate_prompt_tokens,
    estimate_text_tokens,
    install_tiktoken_cache,
)

__all__ = [
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "install_tiktoken_cache",
]
