"""The Python runtime of the dev chain (FRAME-shaped) and its contract with the node."""

from phala_agents.chain._interface import (
    ApplyOutcome,
    BlockContext,
    Overlay,
    Runtime,
    StateReader,
    TransactionSource,
    ValidTransaction,
)
from phala_agents.chain._validity import (
    INVALID_TRANSACTION,
    RPC_INVALID_TRANSACTION,
    RPC_UNKNOWN_VALIDITY,
    UNKNOWN_TRANSACTION,
    encode_validity_error,
    rpc_error_of,
)
from phala_agents.chain.frame import StorageOverlay
from phala_agents.chain.runtime import (
    DEV_ACCOUNTS,
    DEV_ENDOWMENT,
    PALLET_INDICES,
    SPEC_VERSION,
    SS58_PREFIX,
    TOKEN_DECIMALS,
    TOKEN_SYMBOL,
    TRANSACTION_VERSION,
    UNIT,
    DevRuntime,
    Extrinsic,
)

__all__ = [
    "DEV_ACCOUNTS",
    "DEV_ENDOWMENT",
    "INVALID_TRANSACTION",
    "PALLET_INDICES",
    "RPC_INVALID_TRANSACTION",
    "RPC_UNKNOWN_VALIDITY",
    "SPEC_VERSION",
    "SS58_PREFIX",
    "TOKEN_DECIMALS",
    "TOKEN_SYMBOL",
    "TRANSACTION_VERSION",
    "UNIT",
    "UNKNOWN_TRANSACTION",
    "ApplyOutcome",
    "BlockContext",
    "DevRuntime",
    "Extrinsic",
    "Overlay",
    "Runtime",
    "StateReader",
    "StorageOverlay",
    "TransactionSource",
    "ValidTransaction",
    "encode_validity_error",
    "rpc_error_of",
]
