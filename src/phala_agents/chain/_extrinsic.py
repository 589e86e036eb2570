"""The v4 extrinsic format: signed extensions, ``UncheckedExtrinsic`` decoding and encoding, and
the payload a signer signs.

Signed: ``0x84 ++ MultiAddress ++ MultiSignature ++ extra ++ call``; unsigned: ``0x04 ++ call``;
both behind a compact length prefix. The extra and the additional signed data follow
``SIGNED_EXTENSIONS`` in order (it is what metadata tells clients to build).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from phala_agents.chain._version import SPEC_VERSION, TRANSACTION_VERSION
from phala_agents.chain.frame import Call, SignedExtensionDecl
from phala_agents.chain.frame._types import MultiAddress, MultiSignature
from phala_agents.scale import (
    H256,
    U32,
    U128,
    AnyCodec,
    Codec,
    Compact,
    Era,
    FixedBytes,
    MortalEra,
    NewType,
    Option,
    Struct,
    Unit,
    blake2_256,
    decode_error,
    encode_compact,
    field,
    unit_enum,
)

EXTRINSIC_VERSION = 4
_SIGNED_BIT = 0x80
# Substrate signs blake2_256(payload) instead of a payload longer than this.
_MAX_UNHASHED_PAYLOAD = 256

_COMPACT_U32 = Compact(U32)
_COMPACT_U128 = Compact(U128)
# CheckSpecVersion ++ CheckTxVersion additional data: the same for every extrinsic.
_SPEC_AND_TX_VERSION = SPEC_VERSION.to_bytes(4, "little") + TRANSACTION_VERSION.to_bytes(4, "little")


def _ext_type(path: str) -> AnyCodec:
    """An extension without extra data: a unit struct generic over the runtime (``<T>``)."""
    return Struct(path, [], params=(("T", None),))


def _tuple_struct(path: str, inner: AnyCodec, type_name: str) -> AnyCodec:
    """An extension whose extra is one value (``CheckNonce(#[codec(compact)] T::Nonce)``)."""
    return NewType(path, inner, inner_type_name=type_name)


MetadataHashMode = unit_enum("frame_metadata_hash_extension::Mode", ["Disabled", "Enabled"])

# Order matters: it is the order of the extra and of the additional signed data.
SIGNED_EXTENSIONS: tuple[SignedExtensionDecl, ...] = (
    SignedExtensionDecl(
        identifier="CheckNonZeroSender",
        extra=_ext_type("frame_system::extensions::check_non_zero_sender::CheckNonZeroSender"),
        additional=Unit,
    ),
    SignedExtensionDecl(
        identifier="CheckSpecVersion",
        extra=_ext_type("frame_system::extensions::check_spec_version::CheckSpecVersion"),
        additional=U32,
    ),
    SignedExtensionDecl(
        identifier="CheckTxVersion",
        extra=_ext_type("frame_system::extensions::check_tx_version::CheckTxVersion"),
        additional=U32,
    ),
    SignedExtensionDecl(
        identifier="CheckGenesis",
        extra=_ext_type("frame_system::extensions::check_genesis::CheckGenesis"),
        additional=H256,
    ),
    SignedExtensionDecl(
        identifier="CheckMortality",
        extra=_tuple_struct("frame_system::extensions::check_mortality::CheckMortality", Era, "Era"),
        additional=H256,
    ),
    SignedExtensionDecl(
        identifier="CheckNonce",
        extra=_tuple_struct("frame_system::extensions::check_nonce::CheckNonce", _COMPACT_U32, "T::Nonce"),
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
            _COMPACT_U128,
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
        additional=Option(FixedBytes(32)),
    ),
)


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


def _expect_end(data: bytes, pos: int) -> None:
    if pos != len(data):
        raise decode_error(pos, "UncheckedExtrinsic", f"{len(data) - pos} trailing byte(s)", "end of input")


def decode_extrinsic(data: bytes, call_codec: Codec[Call]) -> Extrinsic:
    """Decode an ``UncheckedExtrinsic`` (with its compact length prefix) whose call is in
    ``call_codec`` (the runtime's ``RuntimeCall``)."""
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
    if not version & _SIGNED_BIT:
        call, end = call_codec.decode(data, pos)
        _expect_end(data, end)
        return Extrinsic(signed=False, call=call, call_bytes=data[pos:], length=len(data))
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
    call_start = pos
    call, end = call_codec.decode(data, pos)
    _expect_end(data, end)
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
        extra_bytes=data[extra_start:call_start],
        length=len(data),
    )


def encode_unsigned(call_bytes: bytes) -> bytes:
    """An unsigned (inherent) v4 extrinsic around an encoded call."""
    body = bytes((EXTRINSIC_VERSION,)) + call_bytes
    return encode_compact(len(body)) + body


def encode_signed(call_bytes: bytes, *, signer: bytes, signature: tuple[str, bytes], extra: bytes) -> bytes:
    """A signed v4 extrinsic from an encoded call, the signer's account id, its
    ``(MultiSignature variant, bytes)`` and the encoded extra (``extra_bytes``)."""
    body = (
        bytes((_SIGNED_BIT | EXTRINSIC_VERSION,))
        + MultiAddress.encode(("Id", signer))
        + MultiSignature.encode(signature)
        + extra
        + call_bytes
    )
    return encode_compact(len(body)) + body


def extra_bytes(*, nonce: int, tip: int = 0, era: MortalEra | None = None) -> bytes:
    """The signed extensions' extra: era, compact nonce, compact tip, metadata-hash mode Disabled."""
    return Era.encode(era) + _COMPACT_U32.encode(nonce) + _COMPACT_U128.encode(tip) + b"\x00"


def signing_payload(call_bytes: bytes, extra: bytes, genesis_hash: bytes, birth_hash: bytes) -> bytes:
    """The bytes a signer signs: ``call ++ extra ++ additional`` (spec and tx version, genesis
    hash, era birth hash, metadata hash ``None``), hashed when longer than 256 bytes."""
    payload = call_bytes + extra + _SPEC_AND_TX_VERSION + genesis_hash + birth_hash + b"\x00"
    return blake2_256(payload) if len(payload) > _MAX_UNHASHED_PAYLOAD else payload


__all__ = [
    "EXTRINSIC_VERSION",
    "SIGNED_EXTENSIONS",
    "Extrinsic",
    "MetadataHashMode",
    "decode_extrinsic",
    "encode_signed",
    "encode_unsigned",
    "extra_bytes",
    "signing_payload",
]
