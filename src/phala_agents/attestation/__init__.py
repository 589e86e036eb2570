"""phala_agents.attestation: verify TEE evidence (AMD SEV-SNP in ``sev``, Intel TDX/SGX in ``tdx``).

Shared pieces live here: trust anchors and collateral getters (``trust``), AMD KDS (``kds``),
in-guest evidence (``configfs``) and a simulated SNP TEE for development (``simulated``).
"""

from phala_agents.attestation.configfs import Evidence, EvidenceOptions, get_evidence, parse_cert_table
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
    "EvidenceOptions",
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
    "get_evidence",
    "intel_sgx_root_ca_der",
    "parse_cert_table",
]
