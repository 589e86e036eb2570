"""``DevRuntime``: the dev chain's runtime, assembled from its pallets and their fixed indices.

The parts live in their own modules: the extrinsic format and signed extensions in
``_extrinsic``, signature checks in ``_signature``, validation and block building in
``_executive``, ``state_call`` in ``_runtime_apis``, versions in ``_version`` and the dev genesis
in ``_genesis``. This module binds them together and keeps the names other layers import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from phala_agents.chain._executive import Executive
from phala_agents.chain._extrinsic import (
    SIGNED_EXTENSIONS,
    Extrinsic,
    encode_unsigned,
    extra_bytes,
    signing_payload,
)
from phala_agents.chain._extrinsic import encode_signed as _encode_signed
from phala_agents.chain._genesis import (
    DEV_ACCOUNTS,
    DEV_ENDOWMENT,
    SS58_PREFIX,
    TOKEN_DECIMALS,
    TOKEN_SYMBOL,
    UNIT,
    build_genesis_storage,
    dev_genesis_config,
)
from phala_agents.chain._interface import StateReader
from phala_agents.chain._runtime_apis import RuntimeApis
from phala_agents.chain._signature import verify_multisignature
from phala_agents.chain._version import (
    RUNTIME_APIS,
    SPEC_NAME,
    SPEC_VERSION,
    TRANSACTION_VERSION,
    api_id,
    runtime_version_dict,
)
from phala_agents.chain.frame import Call, Pallet
from phala_agents.chain.frame._types import MultiAddress, MultiSignature
from phala_agents.chain.pallets.agent_registry import AgentRegistry, AgentRegistryConfig
from phala_agents.chain.pallets.balances import Balances, BalancesConfig
from phala_agents.chain.pallets.billing import Billing, BillingConfig
from phala_agents.chain.pallets.sudo import Sudo, SudoConfig
from phala_agents.chain.pallets.system import System, SystemConfig
from phala_agents.chain.pallets.timestamp import Timestamp, TimestampConfig
from phala_agents.chain.pallets.transaction_payment import TransactionPayment, TransactionPaymentConfig
from phala_agents.chain.pallets.workers import Workers, WorkersConfig
from phala_agents.scale import MortalEra, encode_metadata

# Pallet indices never change (they are in every encoded call and event).
PALLET_INDICES: dict[str, int] = {
    "System": 0,
    "Timestamp": 1,
    "Balances": 2,
    "TransactionPayment": 3,
    "Sudo": 4,
    "AgentRegistry": 10,
    "Workers": 11,
    "Billing": 12,
}


class DevRuntime(Executive):
    """The Python runtime of the dev chain (implements ``phala_agents.chain.Runtime``)."""

    PALLETS: tuple[tuple[str, type[Pallet], object], ...] = (
        ("System", System, SystemConfig(version=runtime_version_dict())),
        ("Timestamp", Timestamp, TimestampConfig()),
        ("Balances", Balances, BalancesConfig()),
        ("TransactionPayment", TransactionPayment, TransactionPaymentConfig()),
        ("Sudo", Sudo, SudoConfig()),
        ("AgentRegistry", AgentRegistry, AgentRegistryConfig()),
        ("Workers", Workers, WorkersConfig()),
        ("Billing", Billing, BillingConfig()),
    )

    def __init__(
        self,
        extra_pallets: Sequence[tuple[int, type[Pallet], object]] = (),
        genesis_config: Mapping[str, Mapping[str, object]] | None = None,
        configs: Mapping[str, object] | None = None,
    ) -> None:
        """``configs`` replaces pallets' default Configs by pallet name (tests inject
        ``BalancesConfig(weights=UnitWeights())`` this way)."""
        overrides = dict(configs or {})
        unknown_names = set(overrides) - {name for name, _, _ in self.PALLETS}
        if unknown_names:
            raise ValueError(f"configs: found {sorted(unknown_names)}, wanted names in DevRuntime.PALLETS")
        pallets = [(PALLET_INDICES[name], cls, overrides.get(name, cfg)) for name, cls, cfg in self.PALLETS]
        super().__init__([*pallets, *extra_pallets])
        self._genesis_config = dict(genesis_config) if genesis_config is not None else dev_genesis_config()
        self._metadata: bytes | None = None
        self._version = runtime_version_dict()
        self._apis = RuntimeApis(self, version=self._version, metadata=self.metadata)

    # --- versions, metadata, properties, genesis ----------------------------------------------------

    @property
    def spec_version(self) -> int:
        return SPEC_VERSION

    @property
    def transaction_version(self) -> int:
        return TRANSACTION_VERSION

    def runtime_version(self) -> Mapping[str, object]:
        """The runtime version as ``state_getRuntimeVersion`` returns it (camelCase JSON)."""
        v = self._version
        return {
            "specName": v["spec_name"],
            "implName": v["impl_name"],
            "authoringVersion": v["authoring_version"],
            "specVersion": v["spec_version"],
            "implVersion": v["impl_version"],
            "apis": [["0x" + i.hex(), ver] for i, ver in cast(list[tuple[bytes, int]], v["apis"])],
            "transactionVersion": v["transaction_version"],
            "stateVersion": v["state_version"],
        }

    def metadata(self) -> bytes:
        """The SCALE-encoded metadata V14 (``RuntimeMetadataPrefixed``), built once."""
        if self._metadata is None:
            md = self.build_metadata(
                extrinsic_address=MultiAddress,
                extrinsic_signature=MultiSignature,
                signed_extensions=SIGNED_EXTENSIONS,
            )
            self._metadata = encode_metadata(md)
        return self._metadata

    def properties(self) -> Mapping[str, object]:
        return {"ss58Format": SS58_PREFIX, "tokenDecimals": TOKEN_DECIMALS, "tokenSymbol": TOKEN_SYMBOL}

    def genesis_storage(self) -> dict[bytes, bytes]:
        return build_genesis_storage(self, self._genesis_config)

    # --- runtime APIs (state_call) ------------------------------------------------------------------

    def call(self, state: StateReader, method: str, params: bytes) -> bytes:
        return self._apis.call(state, method, params)

    # --- helpers for tests, CLI and clients ---------------------------------------------------------

    def signing_payload(
        self, call_bytes: bytes, extra: bytes, genesis_hash: bytes, birth_hash: bytes
    ) -> bytes:
        """The bytes a signer signs (hashed when longer than 256 bytes)."""
        return signing_payload(call_bytes, extra, genesis_hash, birth_hash)

    def encode_signed(
        self,
        call: Call,
        *,
        signer: bytes,
        signature: tuple[str, bytes],
        nonce: int,
        tip: int = 0,
        era: MortalEra | None = None,
    ) -> bytes:
        """Assemble a signed v4 extrinsic from its parts."""
        extra = extra_bytes(nonce=nonce, tip=tip, era=era)
        return _encode_signed(self.call_codec.encode(call), signer=signer, signature=signature, extra=extra)

    @staticmethod
    def extra_bytes(*, nonce: int, tip: int = 0, era: MortalEra | None = None) -> bytes:
        """The signed extensions' extra: era, compact nonce, compact tip, metadata-hash mode."""
        return extra_bytes(nonce=nonce, tip=tip, era=era)


__all__ = [
    "DEV_ACCOUNTS",
    "DEV_ENDOWMENT",
    "PALLET_INDICES",
    "RUNTIME_APIS",
    "SIGNED_EXTENSIONS",
    "SPEC_NAME",
    "SPEC_VERSION",
    "SS58_PREFIX",
    "TOKEN_DECIMALS",
    "TOKEN_SYMBOL",
    "TRANSACTION_VERSION",
    "UNIT",
    "DevRuntime",
    "Extrinsic",
    "api_id",
    "dev_genesis_config",
    "encode_unsigned",
    "runtime_version_dict",
    "verify_multisignature",
]
