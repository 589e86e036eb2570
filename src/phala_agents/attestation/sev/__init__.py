"""AMD SEV-SNP: ``parse_report`` (abi) -> ``verify_report`` (chain, signature) -> ``validate_report``."""

from phala_agents.attestation.sev.abi import (
    GuestPolicy,
    PlatformInfo,
    ProductLine,
    Report,
    SigningKey,
    TcbVersion,
    decode_tcb,
    encode_tcb,
    parse_report,
    report_fields,
    serialize_report,
)
from phala_agents.attestation.sev.validate import (
    Policy,
    PolicyFileError,
    load_policy,
    policy_from_mapping,
    policy_to_mapping,
    validate_report,
)
from phala_agents.attestation.sev.verify import (
    ChainCache,
    Endorsement,
    VerifiedReport,
    VerifyOptions,
    load_endorsement,
    verify_endorsement,
    verify_report,
)

__all__ = [
    "ChainCache",
    "Endorsement",
    "GuestPolicy",
    "PlatformInfo",
    "Policy",
    "PolicyFileError",
    "ProductLine",
    "Report",
    "SigningKey",
    "TcbVersion",
    "VerifiedReport",
    "VerifyOptions",
    "decode_tcb",
    "encode_tcb",
    "load_endorsement",
    "load_policy",
    "parse_report",
    "policy_from_mapping",
    "policy_to_mapping",
    "report_fields",
    "serialize_report",
    "validate_report",
    "verify_endorsement",
    "verify_report",
]
