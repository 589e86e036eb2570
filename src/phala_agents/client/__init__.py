"""phala_agents.client."""

from phala_agents.client.sealing import (
    ClusterKey,
    SealedBlob,
    open_prompt,
    prompt_aad,
    prompt_commitment,
    seal_prompt,
)

__all__: list[str] = [
    "ClusterKey",
    "SealedBlob",
    "open_prompt",
    "prompt_aad",
    "prompt_commitment",
    "seal_prompt",
]
