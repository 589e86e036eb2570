"""What the dev runtime declares about itself: spec and transaction versions, runtime API ids.

Clients read these through ``Core_version`` / ``state_getRuntimeVersion`` and sign the spec and
transaction versions into every extrinsic (``CheckSpecVersion``, ``CheckTxVersion``), so a change
here is a runtime upgrade for them.
"""

from __future__ import annotations

import hashlib

SPEC_NAME = "phala-agents-dev"
IMPL_NAME = "phala-agents-python"
SPEC_VERSION = 100
TRANSACTION_VERSION = 1
STATE_VERSION = 1

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


def runtime_version_dict() -> dict[str, object]:
    """``sp_version::RuntimeVersion`` as ``RuntimeVersionCodec`` encodes it (``Core_version`` and
    the ``System.Version`` constant)."""
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


__all__ = [
    "IMPL_NAME",
    "RUNTIME_APIS",
    "SPEC_NAME",
    "SPEC_VERSION",
    "STATE_VERSION",
    "TRANSACTION_VERSION",
    "api_id",
    "runtime_version_dict",
]
