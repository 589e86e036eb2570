"""phala_agents.attestation: verify TEE evidence (AMD SEV-SNP in ``sev``, Intel TDX/SGX in ``tdx``).

``verify_evidence`` is the one entry point for every kind (``evidence``); ``worker_report_data`` is
the worker's REPORT_DATA binding (``binding``).

Shared pieces live here: trust anchors and collateral getters (``trust``), AMD KDS (``kds``),
in-guest evidence (``configfs``) and a simulated SNP TEE for development (``simulated``).
"""

from phala_agents.attestation.binding import WorkerBinding, worker_report_data
from phala_agents.attestation.configfs import Evidence, EvidenceOptions, get_evidence, parse_cert_table
from phala_agents.attestation.evidence import (
    EvidenceKind,
    EvidencePolicy,
    VerifiedEvidence,
    VerifyEvidenceOptions,
    detect_kind,
    validate_evidence,
    verify_evidence,
)
from phala_agents.attestation.kds import FakeKds, KdsClient
from phala_agents.attestation.simulated import SimulatedSnp
from phala_agents.attestation.trust import (
    CachingGetter,
    Clock,
    DictGetter,
    FixedClock,
    Getter,
    HttpxGetter,
    OfflineGetter,
    ProductRoots,
    SystemClock,
    TrustedRoots,
    intel_sgx_root_ca_der,
)

__all__ = [
    "CachingGetter",
    "Clock",
    "DictGetter",
    "Evidence",
    "EvidenceKind",
    "EvidenceOptions",
    "EvidencePolicy",
    "FakeKds",
    "FixedClock",
    "Getter",
    "HttpxGetter",
    "KdsClient",
    "OfflineGetter",
    "ProductRoots",
    "SimulatedSnp",
    "SystemClock",
    "TrustedRoots",
    "VerifiedEvidence",
    "VerifyEvidenceOptions",
    "WorkerBinding",
    "detect_kind",
    "get_evidence",
    "intel_sgx_root_ca_der",
    "parse_cert_table",
    "validate_evidence",
    "verify_evidence",
    "worker_report_data",
]
