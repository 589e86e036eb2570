"""Runtime-wide SCALE types with their Substrate type paths (what outside clients look up)."""

from __future__ import annotations

from phala_agents.scale import (
    H256,
    U8,
    U32,
    U64,
    U128,
    AccountId,
    AnyCodec,
    Bytes,
    Compact,
    Enum,
    FixedBytes,
    NewType,
    Option,
    Str,
    Struct,
    Tuple,
    Vec,
    field,
    unit_enum,
    variant,
)

Balance = U128
BlockNumber = U32
Nonce = U32

MultiAddress = Enum(
    "sp_runtime::multiaddress::MultiAddress",
    [
        variant("Id", 0, [field(None, AccountId, "AccountId")]),
        variant("Index", 1, [field(None, Compact(U32), "AccountIndex")]),
        variant("Raw", 2, [field(None, Bytes, "Vec<u8>")]),
        variant("Address32", 3, [field(None, FixedBytes(32), "[u8; 32]")]),
        variant("Address20", 4, [field(None, FixedBytes(20), "[u8; 20]")]),
    ],
    params=(("AccountId", AccountId), ("AccountIndex", U32)),
)

Ed25519Signature = NewType("sp_core::ed25519::Signature", FixedBytes(64), inner_type_name="[u8; 64]")
Sr25519Signature = NewType("sp_core::sr25519::Signature", FixedBytes(64), inner_type_name="[u8; 64]")
EcdsaSignature = NewType("sp_core::ecdsa::Signature", FixedBytes(65), inner_type_name="[u8; 65]")
MultiSignature = Enum(
    "sp_runtime::MultiSignature",
    [
        variant("Ed25519", 0, [field(None, Ed25519Signature, "ed25519::Signature")]),
        variant("Sr25519", 1, [field(None, Sr25519Signature, "sr25519::Signature")]),
        variant("Ecdsa", 2, [field(None, EcdsaSignature, "ecdsa::Signature")]),
    ],
)

ExtraFlags = NewType("pallet_balances::types::ExtraFlags", U128, inner_type_name="u128")
AccountData = Struct(
    "pallet_balances::types::AccountData",
    [
        field("free", Balance, "Balance"),
        field("reserved", Balance, "Balance"),
        field("frozen", Balance, "Balance"),
        field("flags", ExtraFlags, "ExtraFlags"),
    ],
    params=(("Balance", Balance),),
)
AccountInfo = Struct(
    "frame_system::AccountInfo",
    [
        field("nonce", Nonce, "Nonce"),
        field("consumers", U32, "RefCount"),
        field("providers", U32, "RefCount"),
        field("sufficients", U32, "RefCount"),
        field("data", AccountData, "AccountData"),
    ],
    params=(("Nonce", Nonce), ("AccountData", AccountData)),
)

WeightCodec = Struct(
    "sp_weights::weight_v2::Weight",
    [field("ref_time", Compact(U64), "u64"), field("proof_size", Compact(U64), "u64")],
)
DispatchClassCodec = unit_enum(
    "frame_support::dispatch::DispatchClass", ["Normal", "Operational", "Mandatory"]
)
PaysCodec = unit_enum("frame_support::dispatch::Pays", ["Yes", "No"])
DispatchInfoCodec = Struct(
    "frame_support::dispatch::DispatchInfo",
    [
        field("weight", WeightCodec, "Weight"),
        field("class", DispatchClassCodec, "DispatchClass"),
        field("pays_fee", PaysCodec, "Pays"),
    ],
)


def _per_dispatch_class(inner: AnyCodec) -> Struct:
    """``PerDispatchClass<T>``: one ``T`` for each of normal, operational and mandatory."""
    return Struct(
        "frame_support::dispatch::PerDispatchClass",
        [field(name, inner, "T") for name in ("normal", "operational", "mandatory")],
        params=(("T", inner),),
    )


PerDispatchClassWeight = _per_dispatch_class(WeightCodec)
PerDispatchClassU32 = _per_dispatch_class(U32)

ModuleErrorCodec = Struct(
    "sp_runtime::ModuleError",
    [field("index", U8, "u8"), field("error", FixedBytes(4), "[u8; MAX_MODULE_ERROR_ENCODED_SIZE]")],
)
TokenError = unit_enum(
    "sp_runtime::TokenError",
    [
        "FundsUnavailable",
        "OnlyProvider",
        "BelowMinimum",
        "CannotCreate",
        "UnknownAsset",
        "Frozen",
        "Unsupported",
        "CannotCreateHold",
        "NotExpendable",
        "Blocked",
    ],
)
ArithmeticError = unit_enum("sp_arithmetic::ArithmeticError", ["Underflow", "Overflow", "DivisionByZero"])
TransactionalError = unit_enum("sp_runtime::TransactionalError", ["LimitReached", "NoLayer"])
DispatchErrorCodec = Enum(
    "sp_runtime::DispatchError",
    [
        variant("Other", 0),
        variant("CannotLookup", 1),
        variant("BadOrigin", 2),
        variant("Module", 3, [field(None, ModuleErrorCodec, "ModuleError")]),
        variant("ConsumerRemaining", 4),
        variant("NoProviders", 5),
        variant("TooManyConsumers", 6),
        variant("Token", 7, [field(None, TokenError, "TokenError")]),
        variant("Arithmetic", 8, [field(None, ArithmeticError, "ArithmeticError")]),
        variant("Transactional", 9, [field(None, TransactionalError, "TransactionalError")]),
        variant("Exhausted", 10),
        variant("Corruption", 11),
        variant("Unavailable", 12),
        variant("RootNotAllowed", 13),
    ],
)
DispatchResult = Enum(
    "Result",
    [variant("Ok", 0, [field(None, Tuple())]), variant("Err", 1, [field(None, DispatchErrorCodec)])],
    params=(("T", Tuple()), ("E", DispatchErrorCodec)),
)

Phase = Enum(
    "frame_system::Phase",
    [
        variant("ApplyExtrinsic", 0, [field(None, U32, "u32")]),
        variant("Finalization", 1),
        variant("Initialization", 2),
    ],
)

DigestItem = Enum(
    "sp_runtime::generic::digest::DigestItem",
    [
        variant(
            "PreRuntime", 6, [field(None, FixedBytes(4), "ConsensusEngineId"), field(None, Bytes, "Vec<u8>")]
        ),
        variant(
            "Consensus", 4, [field(None, FixedBytes(4), "ConsensusEngineId"), field(None, Bytes, "Vec<u8>")]
        ),
        variant("Seal", 5, [field(None, FixedBytes(4), "ConsensusEngineId"), field(None, Bytes, "Vec<u8>")]),
        variant("Other", 0, [field(None, Bytes, "Vec<u8>")]),
        variant("RuntimeEnvironmentUpdated", 8),
    ],
)
Digest = Struct("sp_runtime::generic::digest::Digest", [field("logs", Vec(DigestItem), "Vec<DigestItem>")])

LastRuntimeUpgradeInfo = Struct(
    "frame_system::LastRuntimeUpgradeInfo",
    [
        field("spec_version", Compact(U32), "codec::Compact<u32>"),
        field("spec_name", Str, "Cow<'static, str>"),
    ],
)

RuntimeVersionCodec = Struct(
    "sp_version::RuntimeVersion",
    [
        field("spec_name", Str, "Cow<'static, str>"),
        field("impl_name", Str, "Cow<'static, str>"),
        field("authoring_version", U32, "u32"),
        field("spec_version", U32, "u32"),
        field("impl_version", U32, "u32"),
        field("apis", Vec(Tuple(FixedBytes(8), U32)), "ApisVec"),
        field("transaction_version", U32, "u32"),
        field("state_version", U8, "u8"),
    ],
)

WeightsPerClass = Struct(
    "frame_system::limits::WeightsPerClass",
    [
        field("base_extrinsic", WeightCodec, "Weight"),
        field("max_extrinsic", Option(WeightCodec), "Option<Weight>"),
        field("max_total", Option(WeightCodec), "Option<Weight>"),
        field("reserved", Option(WeightCodec), "Option<Weight>"),
    ],
)
BlockWeightsCodec = Struct(
    "frame_system::limits::BlockWeights",
    [
        field("base_block", WeightCodec, "Weight"),
        field("max_block", WeightCodec, "Weight"),
        field("per_class", _per_dispatch_class(WeightsPerClass), "PerDispatchClass<WeightsPerClass>"),
    ],
)
BlockLengthCodec = Struct(
    "frame_system::limits::BlockLength", [field("max", PerDispatchClassU32, "PerDispatchClass<u32>")]
)
RuntimeDbWeightCodec = Struct(
    "sp_weights::RuntimeDbWeight", [field("read", U64, "u64"), field("write", U64, "u64")]
)
FixedU128 = NewType("sp_arithmetic::fixed_point::FixedU128", U128, inner_type_name="u128")

# Runtime-API types (not in metadata, but encoded for state_call).
TransactionSourceCodec = unit_enum(
    "sp_runtime::transaction_validity::TransactionSource", ["InBlock", "Local", "External"]
)
InclusionFee = Struct(
    "pallet_transaction_payment::types::InclusionFee",
    [field("base_fee", Balance), field("len_fee", Balance), field("adjusted_weight_fee", Balance)],
)
FeeDetails = Struct(
    "pallet_transaction_payment::types::FeeDetails",
    [field("inclusion_fee", Option(InclusionFee)), field("tip", Balance)],
)
RuntimeDispatchInfo = Struct(
    "pallet_transaction_payment::types::RuntimeDispatchInfo",
    [field("weight", WeightCodec), field("class", DispatchClassCodec), field("partial_fee", Balance)],
)

__all__ = [
    "H256",
    "AccountData",
    "AccountId",
    "AccountInfo",
    "ArithmeticError",
    "Balance",
    "BlockLengthCodec",
    "BlockNumber",
    "BlockWeightsCodec",
    "Digest",
    "DigestItem",
    "DispatchClassCodec",
    "DispatchErrorCodec",
    "DispatchInfoCodec",
    "DispatchResult",
    "EcdsaSignature",
    "Ed25519Signature",
    "ExtraFlags",
    "FeeDetails",
    "FixedU128",
    "InclusionFee",
    "LastRuntimeUpgradeInfo",
    "ModuleErrorCodec",
    "MultiAddress",
    "MultiSignature",
    "Nonce",
    "PaysCodec",
    "PerDispatchClassU32",
    "PerDispatchClassWeight",
    "Phase",
    "RuntimeDbWeightCodec",
    "RuntimeDispatchInfo",
    "RuntimeVersionCodec",
    "Sr25519Signature",
    "TokenError",
    "TransactionSourceCodec",
    "TransactionalError",
    "WeightCodec",
    "WeightsPerClass",
]
