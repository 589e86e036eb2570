"""The exception tree of phala-agents.

Our exception hierarchy::

    PhalaAgentsError
    ├── ScaleError                      malformed SCALE bytes, unknown type, bad SS58
    │   └── DecodeError
    ├── DispatchError                   a runtime call failed (rolled back, fee still paid)
    │   ├── ModuleError                 a declared pallet error: pallet index, error index, name
    │   └── BadOrigin
    ├── InvalidProof                    a trie proof does not verify against its state root
    ├── InvalidTransaction              rejected before inclusion (RPC error 1010)
    │   └── UnknownTransaction          (RPC error 1011)
    ├── ClientError                     talking to a chain
    │   ├── RpcError                    a JSON-RPC error object from the node
    │   ├── SubmissionTimeout
    │   ├── TransactionRejected         invalid / dropped / usurped in the pool
    │   ├── ExtrinsicFailed             included but failed (raise_for_error)
    │   └── IncompatibleMetadata
    ├── AttestationError
    │   ├── ReportFormatError           parse: the bytes are not a well-formed report/quote
    │   ├── VerificationError           verify: a signature, chain, CRL or binding does not hold
    │   ├── CollateralUnavailable       verify: collateral could not be fetched/found (fail-open point)
    │   ├── PolicyError                 validate: every violation, not only the first
    │   └── EvidenceUnavailable         in-guest: no TEE interface answered (configfs-tsm, /dev/*-guest)
    ├── AgentDefinitionError            a bad agent.toml (with line numbers)
    ├── KeystoreError                   keys: wrong password, unknown key, bad file
    ├── SealingError                    a sealed prompt does not open: wrong key, context or bytes
    └── WorkerError
        ├── AuthorizationError          bad signature, expired, replayed, not allowed
        ├── ReceiptError                a receipt does not verify offline (signatures, charge)
        ├── InsufficientBudget          the reservation cannot be made
        └── UpstreamError               the model server failed
            └── UpstreamTimeout         it did not answer (or finish) in time

Caller bugs raise ``ValueError``/``TypeError``/``RuntimeError`` subclasses instead.
Messages name the field, what was found and what was wanted; they never contain secrets,
keys, prompts or completions.
"""

from __future__ import annotations


class PhalaAgentsError(Exception):
    """Root of every error this package raises on purpose."""


# --- scale -----------------------------------------------------------------------------------


class ScaleError(PhalaAgentsError):
    """SCALE encoding or decoding failed, or an SS58 address is malformed."""


class DecodeError(ScaleError):
    """The bytes do not decode as the wanted type (offset, type, found, wanted when known)."""

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        type_name: str | None = None,
        found: str | None = None,
        wanted: str | None = None,
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.type_name = type_name
        self.found = found
        self.wanted = wanted


# --- chain (runtime) ---------------------------------------------------------------------------


class DispatchError(PhalaAgentsError):
    """A dispatched call failed; its storage changes are dropped."""


class BadOrigin(DispatchError):
    """The call's origin is not allowed to make it."""


class ModuleError(DispatchError):
    """A declared pallet error (``Pallet::Error``)."""

    def __init__(self, pallet: str, pallet_index: int, name: str, error_index: int, docs: str = "") -> None:
        super().__init__(f"{pallet}::{name}" + (f": {docs}" if docs else ""))
        self.pallet = pallet
        self.pallet_index = pallet_index
        self.name = name
        self.error_index = error_index
        self.docs = docs


class InvalidProof(PhalaAgentsError):
    """A storage proof is malformed, incomplete or does not hash to the claimed state root."""


class InvalidTransaction(PhalaAgentsError):
    """A transaction rejected by validation; maps to RPC error 1010."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"Invalid Transaction: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.detail = detail


class UnknownTransaction(InvalidTransaction):
    """Validity cannot be determined; maps to RPC error 1011."""


# --- client ------------------------------------------------------------------------------------


class ClientError(PhalaAgentsError):
    """Talking to a chain node failed."""


class RpcError(ClientError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(f"RPC error {code}: {message}" + (f" ({data})" if data is not None else ""))
        self.code = code
        self.message = message
        self.data = data


class SubmissionTimeout(ClientError):
    """An extrinsic did not reach the wanted status in time."""


class TransactionRejected(ClientError):
    """The pool reported the extrinsic invalid, dropped or usurped."""

    def __init__(self, message: str, *, status: str = "", reason: str = "", extrinsic_hash: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.extrinsic_hash = extrinsic_hash


class ExtrinsicFailed(ClientError):
    """An extrinsic was included but its call failed (``Pallet::Error``)."""

    def __init__(
        self, message: str, *, error: str = "", extrinsic_hash: str = "", block_hash: str = ""
    ) -> None:
        super().__init__(message)
        self.error = error
        self.extrinsic_hash = extrinsic_hash
        self.block_hash = block_hash


class IncompatibleMetadata(ClientError):
    """The node's metadata differs from the descriptors the client was built for."""


# --- attestation -------------------------------------------------------------------------------


class AttestationError(PhalaAgentsError):
    """Attestation evidence could not be accepted."""


class ReportFormatError(AttestationError):
    """Parse stage: the bytes are not a well-formed report or quote."""


class VerificationError(AttestationError):
    """Verify stage: a signature, certificate chain, CRL or binding does not hold."""


class CollateralUnavailable(AttestationError):
    """Verify stage: collateral (certificates, CRLs, TCB info) could not be obtained."""


class EvidenceUnavailable(AttestationError):
    """In-guest: no TEE interface (configfs-tsm, ``/dev/sev-guest``, ``/dev/tdx_guest``) gave evidence."""


class PolicyError(AttestationError):
    """Validate stage: the evidence is authentic but violates the policy; holds every violation."""

    def __init__(self, violations: list[str]) -> None:
        super().__init__("; ".join(violations))
        self.violations = list(violations)


# --- agents, keys ------------------------------------------------------------------------------


class AgentDefinitionError(PhalaAgentsError):
    """An agent definition file is malformed; the message names the file, line and field."""

    def __init__(
        self,
        message: str,
        *,
        file: str = "",
        line: int | None = None,
        field: str = "",
        found: str = "",
        wanted: str = "",
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.field = field
        self.found = found
        self.wanted = wanted


class KeystoreError(PhalaAgentsError):
    """A key could not be created, found or unlocked."""


class SealingError(PhalaAgentsError):
    """A sealed blob does not open: wrong key, other agent id or version (AAD), or altered bytes."""


# --- worker ------------------------------------------------------------------------------------


class WorkerError(PhalaAgentsError):
    """The worker refused or failed a call."""


class AuthorizationError(WorkerError):
    """A call authorization is malformed, badly signed, expired, replayed or not allowed."""


class ReceiptError(WorkerError):
    """A receipt is malformed or does not verify: worker or caller signature, charge above max_charge."""


class InsufficientBudget(WorkerError):
    """The caller's available escrow or max_charge cannot cover the call's worst case."""


class UpstreamError(WorkerError):
    """The upstream model server failed or timed out."""


class UpstreamTimeout(UpstreamError):
    """The upstream model server did not connect, answer or finish within its configured timeout."""
