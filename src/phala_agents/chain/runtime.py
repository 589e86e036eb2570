"""The dev runtime: pallet indices, signed extensions, executive, runtime APIs, dev genesis.

``DevRuntime()`` implements the ``Runtime`` protocol of ``chain/_interface.py``. The pipeline is
Substrate's ``frame_executive`` for v4 extrinsics: decode, ``check`` (lookup the signer, build the
signing payload from the extension's additional data, verify the signature), then the signed
extensions in metadata order (validate for the pool, pre_dispatch when applying), dispatch inside
a storage layer, fee correction, ``ExtrinsicSuccess``/``ExtrinsicFailed``.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import ed25519_zebra
import sr25519

from phala_agents.chain._interface import (
    ApplyOutcome,
    BlockContext,
    Overlay,
    StateReader,
    TransactionSource,
    ValidTransaction,
)
from phala_agents.chain._validity import encode_validity_error, invalid, unknown
from phala_agents.chain.frame import (
    NONE,
    ZERO_WEIGHT,
    Call,
    DispatchClass,
    DispatchInfo,
    DispatchOutcome,
    FrameRuntime,
    Origin,
    Pallet,
    Pays,
    SignedExtensionDecl,
    StorageOverlay,
    Weight,
)
from phala_agents.chain.frame._types import (
    Balance,
    FeeDetails,
    MultiAddress,
    MultiSignature,
    RuntimeDispatchInfo,
    RuntimeVersionCodec,
    TransactionSourceCodec,
    WeightCodec,
)
from phala_agents.chain.pallets.agent_registry import AgentRegistry, AgentRegistryConfig
from phala_agents.chain.pallets.balances import Balances, BalancesConfig
from phala_agents.chain.pallets.billing import Billing, BillingConfig
from phala_agents.chain.pallets.sudo import Sudo, SudoConfig
from phala_agents.chain.pallets.system import System, SystemConfig
from phala_agents.chain.pallets.timestamp import Timestamp, TimestampConfig
from phala_agents.chain.pallets.transaction_payment import TransactionPayment, TransactionPaymentConfig
from phala_agents.chain.pallets.workers import DEV_CLUSTER_EPOCH, Workers, dev_cluster_public_key
from phala_agents.errors import DecodeError, DispatchError, InvalidTransaction
from phala_agents.scale import (
    H256,
    U32,
    U64,
    U128,
    AccountId,
    AnyCodec,
    Bytes,
    Compact,
    Era,
    FixedBytes,
    MortalEra,
    NewType,
    Option,
    Struct,
    Unit,
    Vec,
    blake2_256,
    decode_error,
    encode_compact,
    encode_metadata,
    field,
    unit_enum,
)

R = TypeVar("R")

# --- indices (never change) --------------------------------------------------------------------

PALLET_INDICES: dict[str, int] = {
    "System": 0,
    "Timestamp": 1,
    "Balances": 2,
    "TransactionPayment": 3,
    "Sudo": 4,
    # Reserved for later issues; a pallet class added with its index here and in DevRuntime.PALLETS.
    "AgentRegistry": 10,
    "Workers": 11,
    "Billing": 12,
}

SPEC_NAME = "phala-agents-dev"
IMPL_NAME = "phala-agents-python"
SPEC_VERSION = 100
TRANSACTION_VERSION = 1
STATE_VERSION = 1
EXTRINSIC_VERSION = 4
TOKEN_SYMBOL = "UNIT"  # noqa: S105 - a token ticker, not a secret
TOKEN_DECIMALS = 12
SS58_PREFIX = 42
UNIT = 10**TOKEN_DECIMALS
DEV_ENDOWMENT = 1 << 60  # what substrate's dev chain specs give each dev account
U64_MAX = 2**64 - 1
_VERIFIED_CACHE_SIZE = 65_536  # good signatures remembered between validation and inclusion
_DECODED_CACHE_SIZE = 16_384  # decoded extrinsics remembered between validation and inclusion

# Runtime APIs this runtime answers and the versions it declares (the id is the 8-byte
# BLAKE2b digest of the trait name, as sp-api computes it; e.g. Core = 0xdf6acb689907609b).
# TransactionPaymentApi 4 returns RuntimeDispatchInfo with a WeightV2 (compact ref_time,
# proof_size): what @polkadot/api 16.5 and scalecodec 1.2.12 decode.
RUNTIME_APIS: tuple[tuple[str, int], ...] = (
    ("Core", 5),
    ("Metadata", 2),
    ("BlockBuilder", 6),
    ("TaggedTransactionQueue", 3),
    ("AccountNonceApi", 1),
    ("TransactionPaymentApi", 4),
)


def api_id(name: str) -> bytes:
    """The runtime API id: BLAKE2b with an 8-byte digest of the trait name (not a truncated
    blake2_256, whose first bytes differ)."""
    return hashlib.blake2b(name.encode(), digest_size=8).digest()


# The well-known dev accounts (sr25519 public keys of //Alice ... //Ferdie and their //stash).
DEV_ACCOUNTS: dict[str, bytes] = {
    name: bytes.fromhex(key)
    for name, key in (
        ("Alice", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"),
        ("Bob", "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48"),
        ("Charlie", "90b5ab205c6974c9ea841be688864633dc9ca8a357843eeacf2314649965fe22"),
        ("Dave", "306721211d5404bd9da88e0204360a1a9ab8b87c66c1bc2fcdd37f3c2222cc20"),
        ("Eve", "e659a7a1628cdd93febc04a4e0646ea20e9f5f0ce097d9a05290d4a9e054df4e"),
        ("Ferdie", "1cbd2d43530a44705ad088af313e18f80b53ef16b36177cd4b77b846f2a5f07c"),
        ("Alice//stash", "be5ddb1579b72e84524fc29e78609e3caf42e85aa118ebfe0b0ad404b5bdd25f"),
        ("Bob//stash", "fe65717dad0447d715f660a0a58411de509b42e6efb8375f562f58a554d5860e"),
        ("Charlie//stash", "1e07379407fecc4b89eb7dbd287c2c781cfb1907a96947a3eb18e4f8e7198625"),
        ("Dave//stash", "e860f1b1c7227f7c22602f53f15af80747814dffd839719731ee3bba6edc126c"),
        ("Eve//stash", "8ac59e11963af19174d0b94d5d78041c233f55d2e19324665bafdfb62925af2d"),
        ("Ferdie//stash", "101191192fc877c24d725b337120fa3edc63d227bbc92705db1e2cb65f56981a"),
    )
}

# --- signed extensions (order matters: it is the order of extra and additional data) -------------


def _ext_type(path: str) -> AnyCodec:
    """An extension without extra data: a unit struct generic over the runtime (``<T>``)."""
    return cast("AnyCodec", Struct(path, [], params=(("T", None),)))


def _tuple_struct(path: str, inner: AnyCodec, type_name: str) -> AnyCodec:
    """An extension whose extra is one value (``CheckNonce(#[codec(compact)] T::Nonce)``)."""
    return cast("AnyCodec", NewType(path, inner, inner_type_name=type_name))


MetadataHashMode = unit_enum("frame_metadata_hash_extension::Mode", ["Disabled", "Enabled"])

SIGNED_EXTENSIONS: tuple[SignedExtensionDecl, ...] = (
    SignedExtensionDecl(
        identifier="CheckNonZeroSender",
        extra=_ext_type("frame_system::extensions::check_non_zero_sender::CheckNonZeroSender"),
        additional=Unit,
    ),
    SignedExtensionDecl(
        identifier="CheckSpecVersion",
        extra=_ext_type("frame_system::extensions::check_spec_version::CheckSpecVersion"),
        additional=cast("AnyCodec", U32),
    ),
    SignedExtensionDecl(
        identifier="CheckTxVersion",
        extra=_ext_type("frame_system::extensions::check_tx_version::CheckTxVersion"),
        additional=cast("AnyCodec", U32),
    ),
    SignedExtensionDecl(
        identifier="CheckGenesis",
        extra=_ext_type("frame_system::extensions::check_genesis::CheckGenesis"),
        additional=cast("AnyCodec", H256),
    ),
    SignedExtensionDecl(
        identifier="CheckMortality",
        extra=_tuple_struct(
            "frame_system::extensions::check_mortality::CheckMortality", cast("AnyCodec", Era), "Era"
        ),
        additional=cast("AnyCodec", H256),
    ),
    SignedExtensionDecl(
        identifier="CheckNonce",
        extra=_tuple_struct(
            "frame_system::extensions::check_nonce::CheckNonce", cast("AnyCodec", Compact(U32)), "T::Nonce"
        ),
        additional=Unit,
    ),
    SignedExtensionDecl(
        identifier="CheckWeight",
        extra=_ext_type("frame_system::extensions::check_weight::CheckWeight"),
        additional=Unit,
    ),
    SignedExtensionDecl(
        identifier="ChargeTransactionPayment",
        extra=_tuple_struct(
            "pallet_transaction_payment::ChargeTransactionPayment",
            cast("AnyCodec", Compact(U128)),
            "BalanceOf<T>",
        ),
        additional=Unit,
    ),
    SignedExtensionDecl(
        identifier="CheckMetadataHash",
        extra=cast(
            "AnyCodec",
            Struct(
                "frame_metadata_hash_extension::CheckMetadataHash",
                [field("mode", MetadataHashMode, "Mode")],
                params=(("T", None),),
            ),
        ),
        additional=cast("AnyCodec", Option(FixedBytes(32))),
    ),
)


# --- extrinsics -----------------------------------------------------------------------------------

_COMPACT_U32 = Compact(U32)
_COMPACT_U128 = Compact(U128)


@dataclass(frozen=True, slots=True, kw_only=True)
class Extrinsic:
    """A decoded v4 extrinsic (``UncheckedExtrinsic``)."""

    signed: bool
    call: Call
    address: object = None  # MultiAddress value
    signature: tuple[str, bytes] | None = None  # (MultiSignature variant, bytes)
    era: MortalEra | None = None
    nonce: int = 0
    tip: int = 0
    mode: int = 0
    call_bytes: bytes = b""
    extra_bytes: bytes = b""
    length: int = 0  # the encoded length, compact prefix included (what fees are charged on)


def encode_unsigned(call_bytes: bytes) -> bytes:
    body = bytes((EXTRINSIC_VERSION,)) + call_bytes
    return encode_compact(len(body)) + body


def _ecdsa_account(signature: bytes, message: bytes) -> bytes | None:
    """``blake2_256`` of the compressed secp256k1 key that signed ``blake2_256(message)``."""
    # Imported here: ecdsa takes ~16 ms to import and only Ecdsa signers need it.
    from ecdsa import SECP256k1, VerifyingKey
    from ecdsa.util import sigdecode_string

    v = signature[64]
    if v >= 27:
        v -= 27
    if v > 1:
        return None
    try:
        keys = VerifyingKey.from_public_key_recovery_with_digest(
            signature[:64], blake2_256(message), SECP256k1, sigdecode=sigdecode_string
        )
    except Exception:  # a malformed signature: recovery fails, which is "does not verify"
        return None
    if v >= len(keys):
        return None
    return blake2_256(keys[v].to_string("compressed"))


def verify_multisignature(kind: str, signature: bytes, message: bytes, who: bytes) -> bool:
    """``MultiSignature::verify`` against a 32-byte account id."""
    # The bindings raise (ValueError and others) on malformed keys or signatures; for the
    # runtime that is a signature that does not verify (BadProof), never a crash.
    if kind == "Sr25519":
        try:
            return bool(sr25519.verify(signature, message, who))
        except Exception:
            return False
    if kind == "Ed25519":
        try:
            return bool(ed25519_zebra.ed_verify(signature, message, who))
        except Exception:
            return False
    if kind == "Ecdsa":
        return _ecdsa_account(signature, message) == who
    return False


# --- the runtime --------------------------------------------------------------------------------


def _weight_of_dict(value: object) -> Weight:
    """A ``Weight`` from its decoded ``WeightCodec`` dict (how ``System.BlockWeight`` holds it)."""
    w = cast("dict[str, int]", value)
    return Weight(w["ref_time"], w["proof_size"])


class _EmptyState:
    def get(self, key: bytes) -> bytes | None:
        del key
        return None

    def next_key(self, key: bytes) -> bytes | None:
        del key
        return None


def runtime_version_dict() -> dict[str, object]:
    return {
        "spec_name": SPEC_NAME,
        "impl_name": IMPL_NAME,
        "authoring_version": 1,
        "spec_version": SPEC_VERSION,
        "impl_version": 1,
        "apis": [(api_id(n), v) for n, v in RUNTIME_APIS],
        "transaction_version": TRANSACTION_VERSION,
        "state_version": STATE_VERSION,
    }


def dev_genesis_config() -> dict[str, Mapping[str, object]]:
    return {
        "Balances": {"balances": [(key, DEV_ENDOWMENT) for key in DEV_ACCOUNTS.values()]},
        "Sudo": {"key": DEV_ACCOUNTS["Alice"]},
        # The public dev cluster key (workers.DEV_CLUSTER_SEED): dev chains only.
        "Workers": {"cluster_key": (dev_cluster_public_key(), DEV_CLUSTER_EPOCH)},
    }


class DevRuntime(FrameRuntime):
    """The Python runtime of the dev chain (implements ``phala_agents.chain.Runtime``)."""

    PALLETS: tuple[tuple[str, type[Pallet], object], ...] = (
        ("System", System, SystemConfig(version=runtime_version_dict())),
        ("Timestamp", Timestamp, TimestampConfig()),
        ("Balances", Balances, BalancesConfig()),
        ("TransactionPayment", TransactionPayment, TransactionPaymentConfig()),
        ("Sudo", Sudo, SudoConfig()),
        ("AgentRegistry", AgentRegistry, AgentRegistryConfig()),
        ("Workers", Workers, None),
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
        self.system = self.pallet(System)
        self.timestamp = self.pallet(Timestamp)
        self.balances = self.pallet(Balances)
        self.payment = self.pallet(TransactionPayment)
        self.system_config: SystemConfig = self.system.config
        self._genesis_config = dict(genesis_config) if genesis_config is not None else dev_genesis_config()
        self._metadata: bytes | None = None
        self._version = runtime_version_dict()
        self._spec_tx = SPEC_VERSION.to_bytes(4, "little") + TRANSACTION_VERSION.to_bytes(4, "little")
        self._verified: dict[tuple[str, bytes, bytes, bytes], None] = {}
        self._verified_lock = threading.Lock()
        self._decoded: dict[bytes, Extrinsic] = {}

    # --- Runtime protocol: versions and metadata ----------------------------------------------------

    @property
    def spec_version(self) -> int:
        return SPEC_VERSION

    @property
    def transaction_version(self) -> int:
        return TRANSACTION_VERSION

    def runtime_version(self) -> Mapping[str, object]:
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
        if self._metadata is None:
            md = self.build_metadata(
                extrinsic_address=cast("AnyCodec", MultiAddress),
                extrinsic_signature=cast("AnyCodec", MultiSignature),
                signed_extensions=SIGNED_EXTENSIONS,
            )
            self._metadata = encode_metadata(md)
        return self._metadata

    def properties(self) -> Mapping[str, object]:
        return {"ss58Format": SS58_PREFIX, "tokenDecimals": TOKEN_DECIMALS, "tokenSymbol": TOKEN_SYMBOL}

    def genesis_storage(self) -> dict[bytes, bytes]:
        overlay = StorageOverlay(_EmptyState())
        previous = self.ext.overlay
        self.ext.overlay = overlay
        try:
            for pallet in self.pallets.values():
                pallet.genesis(self._genesis_config.get(pallet.NAME, {}))
            overlay.set(
                b":code",
                b"phala-agents python runtime " + SPEC_NAME.encode() + b" " + str(SPEC_VERSION).encode(),
            )
            overlay.set(b":extrinsic_index", (0).to_bytes(4, "little"))
        finally:
            self.ext.overlay = previous
        return {k: v for k, v in overlay.changes().items() if v is not None}

    # --- decoding and checking ------------------------------------------------------------------------

    def decode_extrinsic(self, data: bytes) -> Extrinsic:
        """Decode an ``UncheckedExtrinsic`` (with its compact length prefix).

        Results are remembered (bounded) because the pool validates and the block builder
        applies the same bytes; an ``Extrinsic`` is immutable, so sharing it is safe."""
        data = bytes(data)
        cached = self._decoded.get(data)
        if cached is not None:
            return cached
        xt = self._decode_extrinsic(data)
        with self._verified_lock:
            if len(self._decoded) >= _DECODED_CACHE_SIZE:
                for old in list(itertools.islice(self._decoded, _DECODED_CACHE_SIZE // 4)):
                    self._decoded.pop(old, None)
            self._decoded[data] = xt
        return xt

    def _decode_extrinsic(self, data: bytes) -> Extrinsic:
        length, pos = _COMPACT_U32.decode(data, 0)
        if pos + length != len(data):
            raise decode_error(
                0,
                "UncheckedExtrinsic",
                f"length prefix {length} for {len(data) - pos} bytes",
                "the prefix to match the body",
            )
        if pos >= len(data):
            raise decode_error(pos, "UncheckedExtrinsic", "no version byte", "a version byte")
        version = data[pos]
        if version & 0x7F != EXTRINSIC_VERSION:
            raise decode_error(pos, "UncheckedExtrinsic", f"version {version & 0x7F}", f"{EXTRINSIC_VERSION}")
        pos += 1
        if version & 0x80:
            address, pos = MultiAddress.decode(data, pos)
            signature, pos = MultiSignature.decode(data, pos)
            extra_start = pos
            era, pos = Era.decode(data, pos)
            nonce, pos = _COMPACT_U32.decode(data, pos)
            tip, pos = _COMPACT_U128.decode(data, pos)
            if pos >= len(data):
                raise decode_error(pos, "CheckMetadataHash", "end of input", "a mode byte")
            mode = data[pos]
            if mode > 1:
                raise decode_error(pos, "CheckMetadataHash", f"mode {mode}", "0 (Disabled) or 1 (Enabled)")
            pos += 1
            extra = data[extra_start:pos]
            call_start = pos
            call, pos = self.call_codec.decode(data, pos)
            if pos != len(data):
                raise decode_error(
                    pos, "UncheckedExtrinsic", f"{len(data) - pos} trailing byte(s)", "end of input"
                )
            return Extrinsic(
                signed=True,
                call=call,
                address=address,
                signature=cast("tuple[str, bytes]", signature),
                era=era,
                nonce=nonce,
                tip=tip,
                mode=mode,
                call_bytes=data[call_start:],
                extra_bytes=extra,
                length=len(data),
            )
        call_start = pos
        call, pos = self.call_codec.decode(data, pos)
        if pos != len(data):
            raise decode_error(
                pos, "UncheckedExtrinsic", f"{len(data) - pos} trailing byte(s)", "end of input"
            )
        return Extrinsic(signed=False, call=call, call_bytes=data[call_start:], length=len(data))

    def _block_hash_or_ancient(self, number: int) -> bytes:
        raw = self.ext.current().get(self.system.block_hash.key(number))
        if raw is None:
            raise invalid("AncientBirthBlock")
        return raw

    def check_signature(self, xt: Extrinsic) -> bytes:
        """``Checkable::check``: the signer's account id, or InvalidTransaction/UnknownTransaction."""
        address = xt.address
        if not (isinstance(address, tuple) and address[0] == "Id"):
            raise unknown("CannotLookup")
        who = cast(bytes, address[1])
        current = self.system.number.get()
        genesis = self.system.block_hash.get(0)
        birth_hash = genesis if xt.era is None else self._block_hash_or_ancient(xt.era.birth(current))
        if xt.mode == 1:
            raise unknown("CannotLookup")  # CheckMetadataHash enabled, but this runtime has no hash
        payload = self.signing_payload(xt.call_bytes, xt.extra_bytes, genesis, birth_hash)
        assert xt.signature is not None
        kind, sig = xt.signature
        key = (kind, sig, payload, who)
        verified = self._verified
        if key not in verified:
            if not verify_multisignature(kind, sig, payload, who):
                raise invalid("BadProof")
            # The pool verified it already; applying the same bytes with the same signed data
            # would verify the same way, so remember good signatures (bounded, oldest dropped).
            with self._verified_lock:
                if len(verified) >= _VERIFIED_CACHE_SIZE:
                    for old in list(itertools.islice(verified, _VERIFIED_CACHE_SIZE // 4)):
                        verified.pop(old, None)
                verified[key] = None
        return who

    def _longevity(self, xt: Extrinsic) -> int:
        current = self.system.number.get()
        if xt.era is None:
            return U64_MAX
        return max(xt.era.death(current) - current, 0)

    def _validate_signed(self, xt: Extrinsic, who: bytes, info: DispatchInfo) -> ValidTransaction:
        """The signed extensions' ``validate`` in order."""
        account = self._sender_account(who)  # CheckNonZeroSender, CheckNonce's account
        longevity = self._longevity(xt)  # CheckMortality
        account_nonce = cast(int, account["nonce"])
        if xt.nonce < account_nonce:
            raise invalid("Stale")
        provides = (who + xt.nonce.to_bytes(4, "little"),)
        requires = (who + (xt.nonce - 1).to_bytes(4, "little"),) if xt.nonce > account_nonce else ()
        self._check_extrinsic_limits(info, xt.length)  # CheckWeight
        fee = self._payable_fee(xt, who, info)  # ChargeTransactionPayment
        priority = self.payment.priority(info, xt.length, xt.tip, fee)
        return ValidTransaction(priority=priority, requires=requires, provides=provides, longevity=longevity)

    def _check_extrinsic_limits(self, info: DispatchInfo, length: int) -> None:
        """``CheckWeight``'s per-extrinsic part: weight (normal class) and length limits."""
        cfg = self.system_config
        if info.dispatch_class is DispatchClass.NORMAL:
            max_w = cfg.max_extrinsic
            if info.weight.ref_time > max_w.ref_time or info.weight.proof_size > max_w.proof_size:
                raise invalid("ExhaustsResources")
        if length > cfg.max_length(info.dispatch_class):
            raise invalid("ExhaustsResources")

    # --- Runtime protocol: validation ---------------------------------------------------------------

    def validate_transaction(
        self, state: StateReader, extrinsic: bytes, source: TransactionSource, block_hash: bytes
    ) -> ValidTransaction:
        del source
        overlay = StorageOverlay(state)
        ext = self.ext
        saved = (ext.overlay, ext.events, ext.phase, ext.extrinsic_index)
        ext.overlay, ext.events, ext.phase, ext.extrinsic_index = overlay, [], b"\x02", 0
        try:
            # frame_executive validates in a block initialised on top of the given one; of that
            # initialisation only Number and BlockHash(parent) matter to the checks below.
            number = self.system.number.get()
            self.system.number.put(number + 1)
            self.system.block_hash.insert(number, bytes(block_hash))
            xt = self.decode_extrinsic(extrinsic)
            info = self.call_info(xt.call)
            if not xt.signed:
                if info.dispatch_class is DispatchClass.MANDATORY:
                    raise invalid("MandatoryValidation")
                raise unknown("NoUnsignedValidator")
            who = self.check_signature(xt)
            if info.dispatch_class is DispatchClass.MANDATORY:
                raise invalid("MandatoryValidation")
            return self._validate_signed(xt, who, info)
        finally:
            ext.overlay, ext.events, ext.phase, ext.extrinsic_index = saved

    # --- Runtime protocol: block building -------------------------------------------------------------

    def initialize_block(self, overlay: Overlay, context: BlockContext) -> None:
        ext = self.ext
        ext.overlay = overlay
        ext.events = []
        ext.phase = b"\x02"
        ext.extrinsic_index = 0
        digest_raw = encode_compact(len(context.digest)) + b"".join(context.digest)
        self.system.initialize(context.number, bytes(context.parent_hash), {"logs": []})
        overlay.set(self.system.digest.key(), digest_raw)
        weight = Weight(self.system_config.base_block_ref_time, 0)
        for pallet in self.pallets.values():
            weight = weight + pallet.on_initialize(context.number)
        self._note_block_weight(DispatchClass.MANDATORY, weight)

    def _note_block_weight(self, cls: DispatchClass, weight: Weight, *, unspent: bool = False) -> None:
        """Add ``weight`` to ``System.BlockWeight`` for ``cls``, or give it back when ``unspent``
        (``CheckWeight::post_dispatch`` returns what a call declared but did not use)."""
        current = self.system.block_weight.get()
        key = cls.value.lower()
        used = _weight_of_dict(current[key])
        current[key] = (used - weight if unspent else used + weight).to_dict()
        self.system.block_weight.put(current)

    def inherent_extrinsics(self, overlay: Overlay, context: BlockContext) -> list[bytes]:
        self.ext.overlay = overlay
        now = self.timestamp.next_timestamp(context.timestamp_ms)
        call = Call(pallet="Timestamp", name="set", args={"now": now})
        return [encode_unsigned(self.call_codec.encode(call))]

    def apply_extrinsic(self, overlay: Overlay, extrinsic: bytes) -> ApplyOutcome:
        ext = self.ext
        ext.overlay = overlay
        try:
            xt = self.decode_extrinsic(extrinsic)
        except DecodeError:
            raise invalid("Call") from None
        info = self.call_info(xt.call)
        ext.phase = b"\x00" + ext.extrinsic_index.to_bytes(4, "little")
        if not xt.signed:
            return self._apply_unsigned(xt, info)
        who = self.check_signature(xt)
        if info.dispatch_class is DispatchClass.MANDATORY:
            raise invalid("BadMandatory")
        events = ext.events
        mark = len(events)
        overlay.start_transaction()
        try:
            fee = self._pre_dispatch(xt, who, info)
        except BaseException:
            overlay.rollback_transaction()
            del events[mark:]
            raise
        outcome = self.dispatch(xt.call, Origin.signed(who))
        actual_info = self._post_dispatch(info, outcome)
        actual_fee = fee
        if actual_info is not info:
            # ChargeTransactionPayment::post_dispatch: the fee of what the call really used
            # (never more than was withdrawn: PostInfo.actual_info caps the weight).
            actual_fee = self.payment.fee_parts(xt.length, actual_info, xt.tip).total
            self.balances.refund_fee(who, fee - actual_fee)
        self.payment.deposit_event(
            "TransactionFeePaid", {"who": who, "actual_fee": actual_fee, "tip": xt.tip}
        )
        result = self._note_applied(outcome.ok, outcome.error, actual_info)
        overlay.commit_transaction()
        ext.extrinsic_index += 1
        return ApplyOutcome(ok=outcome.ok, error=result, weight=actual_info.weight.ref_time, fee=actual_fee)

    def _post_dispatch(self, info: DispatchInfo, outcome: DispatchOutcome) -> DispatchInfo:
        """The dispatch info after the call (``info`` itself when the call returned no
        ``PostInfo``), with the unused weight given back to ``System.BlockWeight``.

        A failed call keeps its declared weight and fee: our ``DispatchError`` carries no
        ``PostInfo`` (Substrate's ``DispatchErrorWithPostInfo`` usually does not either)."""
        if not outcome.ok or outcome.post is None:
            return info
        actual = outcome.post.actual_info(info)
        unspent = info.weight - actual.weight
        if unspent != ZERO_WEIGHT:
            self._note_block_weight(info.dispatch_class, unspent, unspent=True)
        return actual

    def _pre_dispatch(self, xt: Extrinsic, who: bytes, info: DispatchInfo) -> int:
        """The signed extensions' ``pre_dispatch`` in order; returns the fee withdrawn."""
        account = self._sender_account(who)
        nonce = cast(int, account["nonce"])
        if xt.nonce != nonce:
            raise invalid("Stale" if xt.nonce < nonce else "Future")
        account["nonce"] = nonce + 1
        self.system.account.insert(who, account)
        self._check_extrinsic_limits(info, xt.length)
        self._check_block_limits(info, xt.length)
        fee = self._payable_fee(xt, who, info)
        self.balances.withdraw_fee(who, fee)
        return fee

    def _sender_account(self, who: bytes) -> dict[str, object]:
        """``CheckNonZeroSender``, then the account ``CheckNonce`` reads; an account that does
        not exist has nothing to pay fees with (``Payment``)."""
        if who == bytes(32):
            raise invalid("BadSigner")
        account = self.system.account.get(who)
        if account["providers"] == 0 and account["sufficients"] == 0:
            raise invalid("Payment")
        return account

    def _payable_fee(self, xt: Extrinsic, who: bytes, info: DispatchInfo) -> int:
        """``ChargeTransactionPayment``: the fee, when ``who`` can pay it and stay alive."""
        fee = self.payment.fee_parts(xt.length, info, xt.tip).total
        if not self.balances.can_withdraw_fee(who, fee):
            raise invalid("Payment")
        return fee

    def _check_block_limits(self, info: DispatchInfo, length: int) -> None:
        cfg = self.system_config
        total_len = (self.system.all_extrinsics_len.get() or 0) + length
        if total_len > cfg.max_length(info.dispatch_class):
            raise invalid("ExhaustsResources")
        current = self.system.block_weight.get()
        key = info.dispatch_class.value.lower()
        used = _weight_of_dict(current[key]) + info.weight + Weight(cfg.base_extrinsic_ref_time, 0)
        if info.dispatch_class is DispatchClass.NORMAL:
            limit = cfg.normal_max_total
            if used.ref_time > limit.ref_time or used.proof_size > limit.proof_size:
                raise invalid("ExhaustsResources")
        current[key] = used.to_dict()
        self.system.block_weight.put(current)
        self.system.all_extrinsics_len.put(total_len)

    def _apply_unsigned(self, xt: Extrinsic, info: DispatchInfo) -> ApplyOutcome:
        if info.dispatch_class is not DispatchClass.MANDATORY:
            raise unknown("NoUnsignedValidator")
        overlay = self.ext.current()
        overlay.start_transaction()
        outcome = self.dispatch(xt.call, NONE)
        if not outcome.ok:
            overlay.rollback_transaction()
            raise invalid("BadMandatory")
        # Mandatory calls have no block limit to check first, so note what was really used.
        actual = info if outcome.post is None else outcome.post.actual_info(info)
        self._note_block_weight(
            DispatchClass.MANDATORY, actual.weight + Weight(self.system_config.base_extrinsic_ref_time)
        )
        self.system.all_extrinsics_len.put((self.system.all_extrinsics_len.get() or 0) + xt.length)
        self._note_applied(True, None, actual)
        overlay.commit_transaction()
        self.ext.extrinsic_index += 1
        return ApplyOutcome(ok=True, weight=actual.weight.ref_time, fee=0)

    def _note_applied(self, ok: bool, error: DispatchError | None, info: DispatchInfo) -> str | None:
        """``System::note_applied_extrinsic``: ExtrinsicSuccess / ExtrinsicFailed."""
        weight = info.weight + Weight(self.system_config.base_extrinsic_ref_time, 0)
        dispatch_info = {
            "weight": weight.to_dict(),
            "class": (info.dispatch_class.value, None),
            "pays_fee": (info.pays_fee.value, None),
        }
        if ok or error is None:
            self.system.deposit_event("ExtrinsicSuccess", {"dispatch_info": dispatch_info})
            return None
        self.system.deposit_event(
            "ExtrinsicFailed",
            {"dispatch_error": self.dispatch_error_value(error), "dispatch_info": dispatch_info},
        )
        return self.dispatch_error_text(error)

    def finalize_block(self, overlay: Overlay) -> None:
        ext = self.ext
        ext.overlay = overlay
        ext.phase = b"\x01"
        number = self.system.number.get()
        for pallet in self.pallets.values():
            pallet.on_finalize(number)
        self.system.finalize(ext.extrinsic_index, ext.events)
        overlay.delete(b":extrinsic_index")

    # --- runtime APIs (state_call) --------------------------------------------------------------------

    def call(self, state: StateReader, method: str, params: bytes) -> bytes:
        params = bytes(params)
        if method == "Core_version":
            return RuntimeVersionCodec.encode(self._version)
        if method == "Metadata_metadata":
            return Bytes.encode(self.metadata())
        if method == "Metadata_metadata_at_version":
            version = U32.decode_all(params)
            return Option(Bytes).encode(self.metadata() if version == 14 else None)
        if method == "Metadata_metadata_versions":
            return Vec(U32).encode([14])
        if method == "AccountNonceApi_account_nonce":
            who = AccountId.decode_all(params)
            return U32.encode(self._with_state(state, lambda: self.system.account_nonce(who)))
        if method in ("TransactionPaymentApi_query_info", "TransactionPaymentApi_query_fee_details"):
            return self._with_state(state, lambda: self._query_fee(method, params))
        if method == "TransactionPaymentApi_query_weight_to_fee":
            w = cast(dict[str, int], WeightCodec.decode_all(params))
            return Balance.encode(self.payment.weight_to_fee(w["ref_time"]))
        if method == "TransactionPaymentApi_query_length_to_fee":
            return Balance.encode(self.payment.length_to_fee(U32.decode_all(params)))
        if method == "TaggedTransactionQueue_validate_transaction":
            return self._validate_api(state, params)
        raise KeyError(method)

    def _with_state(self, state: StateReader, fn: Callable[[], R]) -> R:
        ext = self.ext
        saved = ext.overlay
        ext.overlay = StorageOverlay(state)
        try:
            return fn()
        finally:
            ext.overlay = saved

    def _query_fee(self, method: str, params: bytes) -> bytes:
        length, pos = _COMPACT_U32.decode(params, 0)
        end = pos + length
        xt = self.decode_extrinsic(params[:end])
        declared_len = U32.decode_all(params[end:])
        info = self.call_info(xt.call)
        parts = self.payment.fee_parts(declared_len, info, xt.tip)
        if method.endswith("query_info"):
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

    def _validate_api(self, state: StateReader, params: bytes) -> bytes:
        (source_name, _), start = TransactionSourceCodec.decode(params, 0)
        length, pos = _COMPACT_U32.decode(params, start)
        end = pos + length
        tx = params[start:end]
        block_hash = H256.decode_all(params[end:])
        source = TransactionSource(source_name)
        try:
            valid = self.validate_transaction(state, tx, source, block_hash)
        except InvalidTransaction as exc:
            return b"\x01" + encode_validity_error(exc)
        body = (
            U64.encode(valid.priority)
            + Vec(Bytes).encode(list(valid.requires))
            + Vec(Bytes).encode(list(valid.provides))
            + U64.encode(valid.longevity)
            + (b"\x01" if valid.propagate else b"\x00")
        )
        return b"\x00" + body

    # --- helpers for tests, CLI and clients ----------------------------------------------------------

    def signing_payload(
        self, call_bytes: bytes, extra: bytes, genesis_hash: bytes, birth_hash: bytes
    ) -> bytes:
        """The bytes a signer signs (hashed when longer than 256 bytes)."""
        payload = call_bytes + extra + self._spec_tx + genesis_hash + birth_hash + b"\x00"
        return blake2_256(payload) if len(payload) > 256 else payload

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
        body = (
            bytes((0x80 | EXTRINSIC_VERSION,))
            + MultiAddress.encode(("Id", signer))
            + MultiSignature.encode(signature)
            + self.extra_bytes(nonce=nonce, tip=tip, era=era)
            + self.call_codec.encode(call)
        )
        return encode_compact(len(body)) + body

    @staticmethod
    def extra_bytes(*, nonce: int, tip: int = 0, era: MortalEra | None = None) -> bytes:
        return Era.encode(era) + _COMPACT_U32.encode(nonce) + _COMPACT_U128.encode(tip) + b"\x00"


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
    "encode_unsigned",
    "verify_multisignature",
]
