"""The runtime APIs behind ``state_call``: each method name to its SCALE-in, SCALE-out handler.

Which APIs and versions are declared is in ``_version.RUNTIME_APIS``; the encodings follow the
declared versions (TransactionPaymentApi 4: ``RuntimeDispatchInfo`` with a ``WeightV2``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from phala_agents.chain._executive import Executive
from phala_agents.chain._interface import StateReader, TransactionSource
from phala_agents.chain._validity import encode_validity_error
from phala_agents.chain.frame import Pays
from phala_agents.chain.frame._types import (
    Balance,
    FeeDetails,
    RuntimeDispatchInfo,
    RuntimeVersionCodec,
    TransactionSourceCodec,
    WeightCodec,
)
from phala_agents.errors import InvalidTransaction
from phala_agents.scale import H256, U32, U64, AccountId, Bytes, Compact, Option, Vec

# The metadata versions `Metadata_metadata_at_version` can give (V14 only).
METADATA_VERSIONS = (14,)

_COMPACT_U32 = Compact(U32)
_OPTION_BYTES = Option(Bytes)
_VEC_U32 = Vec(U32)
_VEC_BYTES = Vec(Bytes)

ApiHandler = Callable[[StateReader, bytes], bytes]


class RuntimeApis:
    """``state_call``'s dispatcher for an ``Executive``: ``call(state, method, params)``."""

    def __init__(
        self, runtime: Executive, *, version: dict[str, object], metadata: Callable[[], bytes]
    ) -> None:
        """``metadata`` is called only when a Metadata API is (building it takes a while)."""
        self._runtime = runtime
        self._version = version
        self._metadata = metadata
        self._handlers: dict[str, ApiHandler] = {
            "Core_version": self._core_version,
            "Metadata_metadata": self._metadata_metadata,
            "Metadata_metadata_at_version": self._metadata_at_version,
            "Metadata_metadata_versions": self._metadata_versions,
            "AccountNonceApi_account_nonce": self._account_nonce,
            "TransactionPaymentApi_query_info": self._query_info,
            "TransactionPaymentApi_query_fee_details": self._query_fee_details,
            "TransactionPaymentApi_query_weight_to_fee": self._query_weight_to_fee,
            "TransactionPaymentApi_query_length_to_fee": self._query_length_to_fee,
            "TaggedTransactionQueue_validate_transaction": self._validate_transaction,
        }

    def call(self, state: StateReader, method: str, params: bytes) -> bytes:
        """The SCALE-encoded result of runtime API ``method``; ``KeyError`` for an unknown one."""
        return self._handlers[method](state, bytes(params))

    def _core_version(self, state: StateReader, params: bytes) -> bytes:
        del state, params
        return RuntimeVersionCodec.encode(self._version)

    def _metadata_metadata(self, state: StateReader, params: bytes) -> bytes:
        del state, params
        return Bytes.encode(self._metadata())

    def _metadata_at_version(self, state: StateReader, params: bytes) -> bytes:
        del state
        version = U32.decode_all(params)
        return _OPTION_BYTES.encode(self._metadata() if version in METADATA_VERSIONS else None)

    def _metadata_versions(self, state: StateReader, params: bytes) -> bytes:
        del state, params
        return _VEC_U32.encode(list(METADATA_VERSIONS))

    def _account_nonce(self, state: StateReader, params: bytes) -> bytes:
        who = AccountId.decode_all(params)
        rt = self._runtime
        return U32.encode(rt.with_state(state, lambda: rt.system.account_nonce(who)))

    def _query_info(self, state: StateReader, params: bytes) -> bytes:
        return self._runtime.with_state(state, lambda: self._query_fee(params, details=False))

    def _query_fee_details(self, state: StateReader, params: bytes) -> bytes:
        return self._runtime.with_state(state, lambda: self._query_fee(params, details=True))

    def _query_fee(self, params: bytes, *, details: bool) -> bytes:
        """``query_info`` (declared weight, class, partial fee) or ``query_fee_details`` (the
        inclusion fee's parts and the tip) for an encoded extrinsic and its declared length."""
        rt = self._runtime
        length, pos = _COMPACT_U32.decode(params, 0)
        end = pos + length
        xt = rt.decode_extrinsic(params[:end])
        declared_len = U32.decode_all(params[end:])
        info = rt.call_info(xt.call)
        parts = rt.payment.fee_parts(declared_len, info, xt.tip)
        if not details:
            partial = parts.inclusion_fee if xt.signed else 0
            return RuntimeDispatchInfo.encode(
                {
                    "weight": info.weight.to_dict(),
                    "class": (info.dispatch_class.value, None),
                    "partial_fee": partial,
                }
            )
        inclusion = None
        if xt.signed and info.pays_fee is Pays.YES:
            inclusion = {
                "base_fee": parts.base_fee,
                "len_fee": parts.len_fee,
                "adjusted_weight_fee": parts.adjusted_weight_fee,
            }
        return FeeDetails.encode({"inclusion_fee": inclusion, "tip": xt.tip})

    def _query_weight_to_fee(self, state: StateReader, params: bytes) -> bytes:
        del state
        w = cast(dict[str, int], WeightCodec.decode_all(params))
        return Balance.encode(self._runtime.payment.weight_to_fee(w["ref_time"]))

    def _query_length_to_fee(self, state: StateReader, params: bytes) -> bytes:
        del state
        return Balance.encode(self._runtime.payment.length_to_fee(U32.decode_all(params)))

    def _validate_transaction(self, state: StateReader, params: bytes) -> bytes:
        """``TaggedTransactionQueue_validate_transaction``: SCALE ``TransactionValidity``."""
        (source_name, _), start = TransactionSourceCodec.decode(params, 0)
        length, pos = _COMPACT_U32.decode(params, start)
        end = pos + length
        tx = params[start:end]
        block_hash = H256.decode_all(params[end:])
        source = TransactionSource(source_name)
        try:
            valid = self._runtime.validate_transaction(state, tx, source, block_hash)
        except InvalidTransaction as exc:
            return b"\x01" + encode_validity_error(exc)
        body = (
            U64.encode(valid.priority)
            + _VEC_BYTES.encode(list(valid.requires))
            + _VEC_BYTES.encode(list(valid.provides))
            + U64.encode(valid.longevity)
            + (b"\x01" if valid.propagate else b"\x00")
        )
        return b"\x00" + body


__all__ = ["METADATA_VERSIONS", "RuntimeApis"]
