"""phala_agents.client."""

from phala_agents.client.keystore import (
    KeyInfo,
    Keystore,
    NewKey,
    Secret,
    decode_keystore_json,
    default_keystore_dir,
    encode_keystore_json,
    resolve_signer,
)
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
    "KeyInfo",
    "Keystore",
    "NewKey",
    "SealedBlob",
    "Secret",
    "decode_keystore_json",
    "default_keystore_dir",
    "encode_keystore_json",
    "open_prompt",
    "prompt_aad",
    "prompt_commitment",
    "resolve_signer",
    "seal_prompt",
]
