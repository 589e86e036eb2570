"""Intel TDX and SGX (DCAP ECDSA) quotes: parse (abi) -> verify (signatures, chains, collateral, TCB)
-> validate (policy).

    quote = parse_quote(raw)
    collateral = load_collateral(json_text)              # dcap-qvl QuoteCollateralV3 JSON
    verified = verify_quote(raw, collateral, VerifyOptions(now=unix_seconds))
    validate_quote(verified, Policy(mr_td=(expected,), report_data=nonce_hash))
"""

from phala_agents.attestation.tdx.abi import EnclaveReport, Quote, QuoteHeader, TdReport, parse_quote
from phala_agents.attestation.tdx.collateral import Collateral, collateral_to_json, load_collateral
from phala_agents.attestation.tdx.pckext import PckExtension
from phala_agents.attestation.tdx.tcb import TcbResult, TcbStatus
from phala_agents.attestation.tdx.validate import Policy, validate_quote
from phala_agents.attestation.tdx.verify import (
    ParseCache,
    VerificationCache,
    VerifiedQuote,
    VerifyOptions,
    intel_sgx_root_ca_der,
    verify_quote,
)

__all__ = [
    "Collateral",
    "EnclaveReport",
    "ParseCache",
    "PckExtension",
    "Policy",
    "Quote",
    "QuoteHeader",
    "TcbResult",
    "TcbStatus",
    "TdReport",
    "VerificationCache",
    "VerifiedQuote",
    "VerifyOptions",
    "collateral_to_json",
    "intel_sgx_root_ca_der",
    "load_collateral",
    "parse_quote",
    "validate_quote",
    "verify_quote",
]
