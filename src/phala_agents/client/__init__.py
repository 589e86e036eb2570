"""phala_agents.client: the typed chain client (``ChainClient``) and sealed prompts."""

from phala_agents.client._client import (
    DEFAULT_TIMEOUT,
    ChainClient,
    PreparedCall,
    StorageEntry,
    UnknownEntry,
)
from phala_agents.client._descriptors import Descriptors, PalletDescriptor
from phala_agents.client._keys import DEV_PHRASE, is_dev_chain, is_dev_uri, keypair_from_uri
from phala_agents.client._nonce import NonceManager
from phala_agents.client._result import (
    AccountBalance,
    ChainStatus,
    Event,
    ExtrinsicResult,
    Head,
    PaymentInfo,
    SignedExtrinsic,
    StoragePage,
)
from phala_agents.client._types import At, JsonValue, WaitFor
from phala_agents.client._watch import WatchOutcome, submit_and_watch
from phala_agents.client.agent_file import (
    Access,
    AgentDefinition,
    GenerationDefaults,
    Prices,
    format_amount,
    load_agent_file,
    parse_agent_toml,
    parse_amount,
)
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
    "DEFAULT_TIMEOUT",
    "DEV_PHRASE",
    "Access",
    "AccountBalance",
    "AgentDefinition",
    "At",
    "ChainClient",
    "ChainStatus",
    "ClusterKey",
    "Descriptors",
    "Event",
    "ExtrinsicResult",
    "GenerationDefaults",
    "Head",
    "JsonValue",
    "KeyInfo",
    "Keystore",
    "NewKey",
    "NonceManager",
    "PalletDescriptor",
    "PaymentInfo",
    "PreparedCall",
    "Prices",
    "SealedBlob",
    "Secret",
    "SignedExtrinsic",
    "StorageEntry",
    "StoragePage",
    "UnknownEntry",
    "WaitFor",
    "WatchOutcome",
    "decode_keystore_json",
    "default_keystore_dir",
    "encode_keystore_json",
    "format_amount",
    "is_dev_chain",
    "is_dev_uri",
    "keypair_from_uri",
    "load_agent_file",
    "open_prompt",
    "parse_agent_toml",
    "parse_amount",
    "prompt_aad",
    "prompt_commitment",
    "resolve_signer",
    "seal_prompt",
    "submit_and_watch",
]
