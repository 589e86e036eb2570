"""Call authorizations and receipts: their SCALE codecs and sr25519 signatures (worker side).

The normative format is ``chain/pallets/billing.md``; the Billing pallet declares the same types
for the chain. The worker layer cannot import ``chain``, so the codecs are declared again here
from ``phala_agents.scale``, and ``tests/unit/test_billing_types_agree.py`` checks that both encode
byte for byte alike.

Callers build and sign an authorization with ``sign_authorization`` and send it in the
``AUTHORIZATION_HEADER`` (``authorization_header``); the worker reads it back with
``parse_authorization_header`` and checks it with ``verify_authorization``. The worker signs each
receipt with ``sign_receipt``; anyone verifies one offline with ``verify_receipt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Protocol, cast

import sr25519

from phala_agents.errors import AuthorizationError, DecodeError, ReceiptError
from phala_agents.scale import (
    H256,
    U32,
    U64,
    U128,
    AccountId,
    Bool,
    FixedBytes,
    Option,
    Struct,
    Vec,
    blake2_256,
    field,
)

__all__ = [
    "AUTHORIZATION_DOMAIN",
    "AUTHORIZATION_HEADER",
    "RECEIPT_DOMAIN",
    "AuthorizationCodec",
    "CallAuthorization",
    "Receipt",
    "ReceiptCodec",
    "ReceiptUsage",
    "SignedAuthorization",
    "SignedReceipt",
    "Sr25519Signer",
    "UsageCodec",
    "authorization_header",
    "parse_authorization_header",
    "settle_call_args",
    "sign_authorization",
    "sign_receipt",
    "verify_authorization",
    "verify_receipt",
]

AUTHORIZATION_DOMAIN = b"phala-agents/call/v1"
RECEIPT_DOMAIN = b"phala-agents/receipt/v1"
AUTHORIZATION_HEADER = "X-Phala-Authorization"
"""HTTP header carrying ``0x`` + hex of ``SCALE(CallAuthorization) ++ signature (64 bytes)``."""

_WRAP_OPEN, _WRAP_CLOSE = b"<Bytes>", b"</Bytes>"
_SIG_LEN = 64
_U32_MAX, _U64_MAX, _U128_MAX = 2**32 - 1, 2**64 - 1, 2**128 - 1

# The codecs, field for field as in billing.md (type paths match the pallet's metadata).
AuthorizationCodec = Struct(
    "pallet_billing::types::CallAuthorization",
    [
        field("genesis", H256),
        field("agent_id", U64),
        field("agent_version", U32),
        field("worker", AccountId),
        field("caller", AccountId),
        field("nonce", U64),
        field("max_charge", U128),
        field("expires_at_block", U32),
        field("request_hash", H256),
        field("parent", Option(H256)),
    ],
)
UsageCodec = Struct(
    "pallet_billing::types::Usage",
    [field("input_tokens", U32), field("output_tokens", U32), field("estimated", Bool)],
)
ReceiptCodec = Struct(
    "pallet_billing::types::Receipt",
    [
        field("authorization", AuthorizationCodec),
        field("caller_signature", FixedBytes(_SIG_LEN)),
        field("usage", UsageCodec),
        field("charge", U128),
        field("response_hash", H256),
        field("children", Vec(H256)),
    ],
)
# ReceiptCodec without its first field (the authorization): Receipt.encode appends it to the
# authorization's cached encoding.
_RECEIPT_TAIL = Struct(
    "pallet_billing::types::ReceiptTail",
    [
        field("caller_signature", FixedBytes(_SIG_LEN)),
        field("usage", UsageCodec),
        field("charge", U128),
        field("response_hash", H256),
        field("children", Vec(H256)),
    ],
)


def _check_bytes(name: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        found = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ValueError(f"field {name} is {found}, wanted {size} bytes")


def _check_int(name: str, value: int, top: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
        raise ValueError(f"field {name} is {value!r}, wanted an int in 0..={top}")


def _sr25519_ok(signature: bytes, message: bytes, public: bytes) -> bool:
    """``sr25519.verify``, with malformed signatures or keys (which make it raise) as ``False``."""
    try:
        return bool(sr25519.verify(signature, message, public))
    except ValueError:
        return False


def _wrap(domain: bytes, body: bytes) -> bytes:
    return _WRAP_OPEN + domain + body + _WRAP_CLOSE


class Sr25519Signer(Protocol):
    """An sr25519 key that signs (a substrate-interface ``Keypair`` of crypto type sr25519)."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


# --- the authorization ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAuthorization:
    """What a caller signs to let ``worker`` serve one call of ``agent_id`` at ``agent_version``,
    charging at most ``max_charge`` to ``caller``'s escrow."""

    genesis: bytes
    agent_id: int
    agent_version: int
    worker: bytes
    caller: bytes
    nonce: int
    max_charge: int
    expires_at_block: int
    request_hash: bytes
    parent: bytes | None = None
    # SCALE bytes, computed once: the worker needs them 3-4 times per call (signature message,
    # receipt id, receipt encoding) and the generic codec costs ~30 us each time.
    _encoded: bytes | None = dataclass_field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("genesis", "worker", "caller", "request_hash"):
            _check_bytes(name, getattr(self, name), 32)
        if self.parent is not None:
            _check_bytes("parent", self.parent, 32)
        _check_int("agent_id", self.agent_id, _U64_MAX)
        _check_int("agent_version", self.agent_version, _U32_MAX)
        _check_int("nonce", self.nonce, _U64_MAX)
        _check_int("max_charge", self.max_charge, _U128_MAX)
        _check_int("expires_at_block", self.expires_at_block, _U32_MAX)

    def to_value(self) -> dict[str, object]:
        return {
            "genesis": self.genesis,
            "agent_id": self.agent_id,
            "agent_version": self.agent_version,
            "worker": self.worker,
            "caller": self.caller,
            "nonce": self.nonce,
            "max_charge": self.max_charge,
            "expires_at_block": self.expires_at_block,
            "request_hash": self.request_hash,
            "parent": self.parent,
        }

    @classmethod
    def from_value(cls, value: Mapping[str, object]) -> CallAuthorization:
        return cls(
            genesis=cast(bytes, value["genesis"]),
            agent_id=cast(int, value["agent_id"]),
            agent_version=cast(int, value["agent_version"]),
            worker=cast(bytes, value["worker"]),
            caller=cast(bytes, value["caller"]),
            nonce=cast(int, value["nonce"]),
            max_charge=cast(int, value["max_charge"]),
            expires_at_block=cast(int, value["expires_at_block"]),
            request_hash=cast(bytes, value["request_hash"]),
            parent=cast("bytes | None", value["parent"]),
        )

    def encode(self) -> bytes:
        encoded = self._encoded
        if encoded is None:
            encoded = AuthorizationCodec.encode(self.to_value())
            object.__setattr__(self, "_encoded", encoded)  # a cache of immutable fields
        return encoded

    @classmethod
    def decode(cls, data: bytes) -> CallAuthorization:
        """Decode exactly one SCALE ``CallAuthorization`` (``DecodeError`` otherwise)."""
        return cls.from_value(AuthorizationCodec.decode_all(bytes(data)))

    def message(self) -> bytes:
        """The exact bytes the caller signs (billing.md "Signatures")."""
        return _wrap(AUTHORIZATION_DOMAIN, self.encode())

    @property
    def receipt_id(self) -> bytes:
        """``ReceiptId = blake2_256(SCALE(CallAuthorization))``."""
        return blake2_256(self.encode())

    @property
    def receipt_id_hex(self) -> str:
        return "0x" + self.receipt_id.hex()


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedAuthorization:
    """An authorization and the caller's 64-byte sr25519 signature of its message."""

    authorization: CallAuthorization
    signature: bytes

    def __post_init__(self) -> None:
        _check_bytes("signature", self.signature, _SIG_LEN)

    def to_bytes(self) -> bytes:
        """``SCALE(CallAuthorization) ++ signature``: what the header carries."""
        return self.authorization.encode() + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedAuthorization:
        data = bytes(data)
        if len(data) < _SIG_LEN:
            raise AuthorizationError(
                f"authorization: found {len(data)} bytes, wanted SCALE and a 64-byte signature"
            )
        try:
            auth = CallAuthorization.decode(data[:-_SIG_LEN])
        except (DecodeError, ValueError) as exc:
            raise AuthorizationError(f"authorization: does not decode ({exc})") from exc
        return cls(authorization=auth, signature=data[-_SIG_LEN:])


def sign_authorization(
    keypair: Sr25519Signer,
    *,
    genesis: bytes,
    agent_id: int,
    agent_version: int,
    worker: bytes,
    nonce: int,
    max_charge: int,
    expires_at_block: int,
    request_hash: bytes,
    parent: bytes | None = None,
) -> SignedAuthorization:
    """Build the authorization for ``keypair`` (the caller) and sign it."""
    auth = CallAuthorization(
        genesis=genesis,
        agent_id=agent_id,
        agent_version=agent_version,
        worker=worker,
        caller=bytes(keypair.public_key),
        nonce=nonce,
        max_charge=max_charge,
        expires_at_block=expires_at_block,
        request_hash=request_hash,
        parent=parent,
    )
    return SignedAuthorization(authorization=auth, signature=bytes(keypair.sign(auth.message())))


def verify_authorization(signed: SignedAuthorization) -> None:
    """Raise ``AuthorizationError`` unless the signature is the caller's over the message."""
    auth = signed.authorization
    if not _sr25519_ok(signed.signature, auth.message(), auth.caller):
        raise AuthorizationError(
            f"authorization signature: found one that does not verify, wanted caller 0x{auth.caller.hex()}'s"
        )


def authorization_header(signed: SignedAuthorization) -> dict[str, str]:
    """``{AUTHORIZATION_HEADER: "0x..."}`` for the OpenAI SDK's ``extra_headers``/``default_headers``."""
    return {AUTHORIZATION_HEADER: "0x" + signed.to_bytes().hex()}


def parse_authorization_header(value: str) -> SignedAuthorization:
    """The header's value back into a ``SignedAuthorization`` (``AuthorizationError`` if malformed;
    the signature is not checked here: call ``verify_authorization``)."""
    text = value.strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise AuthorizationError(
            f"{AUTHORIZATION_HEADER}: found non-hex text, wanted 0x-prefixed hex"
        ) from None
    return SignedAuthorization.from_bytes(raw)


# --- the receipt ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptUsage:
    """Tokens a call used (``Usage`` on chain); ``estimated`` when counted by the worker."""

    input_tokens: int
    output_tokens: int
    estimated: bool = False

    def __post_init__(self) -> None:
        _check_int("input_tokens", self.input_tokens, _U32_MAX)
        _check_int("output_tokens", self.output_tokens, _U32_MAX)


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """A served call: the signed authorization, what it used, what it costs, what it returned."""

    authorization: CallAuthorization
    caller_signature: bytes
    usage: ReceiptUsage
    charge: int
    response_hash: bytes
    children: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        _check_bytes("caller_signature", self.caller_signature, _SIG_LEN)
        _check_int("charge", self.charge, _U128_MAX)
        _check_bytes("response_hash", self.response_hash, 32)
        for child in self.children:
            _check_bytes("children", child, 32)

    @classmethod
    def of(
        cls,
        signed: SignedAuthorization,
        *,
        usage: ReceiptUsage,
        charge: int,
        response_hash: bytes,
        children: Sequence[bytes] = (),
    ) -> Receipt:
        return cls(
            authorization=signed.authorization,
            caller_signature=signed.signature,
            usage=usage,
            charge=charge,
            response_hash=response_hash,
            children=tuple(children),
        )

    def to_value(self) -> dict[str, object]:
        """The value the pallet's ``Receipt`` codec (and substrate-interface) takes."""
        return {
            "authorization": self.authorization.to_value(),
            "caller_signature": self.caller_signature,
            "usage": {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "estimated": self.usage.estimated,
            },
            "charge": self.charge,
            "response_hash": self.response_hash,
            "children": list(self.children),
        }

    @classmethod
    def from_value(cls, value: Mapping[str, object]) -> Receipt:
        usage = cast(Mapping[str, object], value["usage"])
        return cls(
            authorization=CallAuthorization.from_value(cast(Mapping[str, object], value["authorization"])),
            caller_signature=cast(bytes, value["caller_signature"]),
            usage=ReceiptUsage(
                input_tokens=cast(int, usage["input_tokens"]),
                output_tokens=cast(int, usage["output_tokens"]),
                estimated=cast(bool, usage["estimated"]),
            ),
            charge=cast(int, value["charge"]),
            response_hash=cast(bytes, value["response_hash"]),
            children=tuple(cast(Sequence[bytes], value["children"])),
        )

    def encode(self) -> bytes:
        # A struct encodes as its fields in order: the authorization's cached bytes, then the
        # rest through the same field codecs (a test checks it equals ReceiptCodec's output).
        return self.authorization.encode() + _RECEIPT_TAIL.encode(
            {
                "caller_signature": self.caller_signature,
                "usage": {
                    "input_tokens": self.usage.input_tokens,
                    "output_tokens": self.usage.output_tokens,
                    "estimated": self.usage.estimated,
                },
                "charge": self.charge,
                "response_hash": self.response_hash,
                "children": list(self.children),
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        return cls.from_value(ReceiptCodec.decode_all(bytes(data)))

    def message(self) -> bytes:
        """The exact bytes the worker signs (billing.md "Signatures")."""
        return _wrap(RECEIPT_DOMAIN, self.encode())

    @property
    def receipt_id(self) -> bytes:
        return self.authorization.receipt_id

    @property
    def caller_authorization(self) -> SignedAuthorization:
        return SignedAuthorization(authorization=self.authorization, signature=self.caller_signature)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedReceipt:
    """A receipt and the worker's 64-byte sr25519 signature of its message (kept off chain)."""

    receipt: Receipt
    worker_signature: bytes

    def __post_init__(self) -> None:
        _check_bytes("worker_signature", self.worker_signature, _SIG_LEN)

    def to_bytes(self) -> bytes:
        """``SCALE(Receipt) ++ worker_signature``: what the ledger stores and callers verify."""
        return self.receipt.encode() + self.worker_signature

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedReceipt:
        data = bytes(data)
        if len(data) < _SIG_LEN:
            raise ReceiptError(f"receipt: found {len(data)} bytes, wanted SCALE and a 64-byte signature")
        try:
            receipt = Receipt.decode(data[:-_SIG_LEN])
        except (DecodeError, ValueError) as exc:
            raise ReceiptError(f"receipt: does not decode ({exc})") from exc
        return cls(receipt=receipt, worker_signature=data[-_SIG_LEN:])


def sign_receipt(keypair: Sr25519Signer, receipt: Receipt) -> SignedReceipt:
    """Sign ``receipt`` with the worker key; the key must be the authorization's worker."""
    if bytes(keypair.public_key) != receipt.authorization.worker:
        raise ValueError(
            f"receipt signer: found 0x{bytes(keypair.public_key).hex()}, "
            f"wanted the authorization's worker 0x{receipt.authorization.worker.hex()}"
        )
    return SignedReceipt(receipt=receipt, worker_signature=bytes(keypair.sign(receipt.message())))


def verify_receipt(signed: SignedReceipt, *, worker: bytes | None = None) -> None:
    """Offline checks (``ReceiptError`` on the first failure): the worker's signature (and, when
    given, that it is ``worker``), the caller's signature, ``charge <= max_charge``."""
    receipt = signed.receipt
    auth = receipt.authorization
    if worker is not None and auth.worker != worker:
        raise ReceiptError(f"receipt worker: found 0x{auth.worker.hex()}, wanted 0x{worker.hex()}")
    if not _sr25519_ok(signed.worker_signature, receipt.message(), auth.worker):
        raise ReceiptError(f"receipt worker signature: does not verify for worker 0x{auth.worker.hex()}")
    if not _sr25519_ok(receipt.caller_signature, auth.message(), auth.caller):
        raise ReceiptError(f"receipt caller signature: does not verify for caller 0x{auth.caller.hex()}")
    if receipt.charge > auth.max_charge:
        raise ReceiptError(
            f"receipt charge: found {receipt.charge}, wanted at most max_charge {auth.max_charge}"
        )


def _hex_bytes(value: object) -> object:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {k: _hex_bytes(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hex_bytes(v) for v in value]
    return value


def settle_call_args(receipts: Sequence[Receipt]) -> dict[str, object]:
    """``Billing.settle`` arguments as substrate-interface's ``compose_call`` takes them (bytes as
    0x-hex); at most ``MaxReceiptsPerSettle`` receipts per call."""
    return {"receipts": [_hex_bytes(r.to_value()) for r in receipts]}
