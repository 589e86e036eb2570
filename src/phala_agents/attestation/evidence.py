"""One entry point for every kind of evidence: ``verify_evidence`` (verify, then validate).

The worker, the CLI and the Workers pallet call this instead of choosing between ``sev`` and ``tdx``
themselves (go-tdx-guest ``verifyEvidence`` plays the same role there). It

1. takes the evidence as raw bytes or as a configfs ``Evidence`` (whose SNP certificate table supplies
   the VCEK/VLEK when no collateral is given) and detects its kind from the bytes unless told;
2. verifies it with the kind's verifier (``sev.verify_report`` / ``tdx.verify_quote``);
3. validates it against an ``EvidencePolicy``: the allowed kinds, the kind's own policy, an exact
   REPORT_DATA and the worker binding, every violation in one ``PolicyError``;
4. returns a ``VerifiedEvidence``: kind, measurements, REPORT_DATA, TCB status, debug flag and the
   kind-specific verified object.

Errors are the stages' own: ``ReportFormatError`` (not evidence, or not of the kind asked for),
``VerificationError``, ``CollateralUnavailable`` (the fail-open point: nothing was found bad, the
collateral is missing), ``PolicyError``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import struct
from dataclasses import dataclass, field

from phala_agents.attestation import sev, tdx
from phala_agents.attestation.binding import WorkerBinding
from phala_agents.attestation.configfs import Evidence
from phala_agents.attestation.trust import FixedClock
from phala_agents.errors import PolicyError, ReportFormatError

__all__ = [
    "INTEL_PRODUCTION_TRUST",
    "EvidenceKind",
    "EvidencePolicy",
    "VerifiedEvidence",
    "VerifyEvidenceOptions",
    "detect_kind",
    "validate_evidence",
    "verify_evidence",
]

INTEL_PRODUCTION_TRUST = "intel-production"  # the DCAP trust name with the pinned Intel SGX Root CA
CUSTOM_DCAP_TRUST = "custom-roots"
_TEE_TYPE_TDX = 0x81


class EvidenceKind(enum.StrEnum):
    """What the evidence is: an AMD SEV-SNP report, an Intel TDX quote or an Intel SGX quote."""

    SNP = "snp"
    TDX = "tdx"
    SGX = "sgx"


def detect_kind(raw: bytes) -> EvidenceKind:
    """The kind from the bytes alone.

    An SNP report is exactly 1184 bytes with VERSION 2..5 in its first u32; a DCAP quote starts with
    a u16 version (3: SGX; 4 or 5: TDX when TEE_TYPE at offset 4 is 0x81, else SGX). The two cannot be
    confused: a DCAP quote of 1184 bytes would have VERSION 0x????0003..5 with a non-zero high half
    (ATTESTATION_KEY_TYPE 2), which is no SNP VERSION.
    """
    if len(raw) == sev.abi.REPORT_SIZE and struct.unpack_from("<I", raw)[0] in sev.abi.SUPPORTED_VERSIONS:
        return EvidenceKind.SNP
    if len(raw) >= 8:
        version, _key_type, tee_type = struct.unpack_from("<HHI", raw)
        if version == 3:
            return EvidenceKind.SGX
        if version in (4, 5):
            return EvidenceKind.TDX if tee_type == _TEE_TYPE_TDX else EvidenceKind.SGX
    raise ReportFormatError(
        f"cannot tell the evidence kind: {len(raw)} bytes, neither a 1184-byte SNP report (VERSION 2-5) "
        "nor a DCAP quote (version 3, 4 or 5)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyEvidenceOptions:
    """Inputs of the verify stage for each kind (never written to).

    ``snp`` / ``dcap``: the kinds' own options (default: the vendors' pinned roots, shared caches, the
    wall clock). ``now``: when set, the verification time for whichever kind the evidence is; it
    replaces the clock of ``snp`` and the ``now`` of ``dcap`` in derived copies.
    """

    snp: sev.VerifyOptions = field(default_factory=sev.VerifyOptions)
    dcap: tdx.VerifyOptions = field(default_factory=tdx.VerifyOptions)
    now: int | dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidencePolicy:
    """What a relying party accepts, for any kind.

    The default is a production policy: every kind allowed, each judged by its own default policy
    (SNP: debug, migration agent and CXL refused, no provisional firmware; TDX/SGX: debug refused,
    UpToDate only, sane TD attributes). ``snp`` / ``dcap`` replace those; ``report_data`` requires
    this exact 64-byte REPORT_DATA; ``worker`` requires the worker binding
    (``worker_report_data``) in REPORT_DATA. The kinds' own policies may also pin REPORT_DATA; both
    checks then apply.
    """

    kinds: frozenset[EvidenceKind] = frozenset(EvidenceKind)
    snp: sev.Policy = field(default_factory=sev.Policy)
    dcap: tdx.Policy = field(default_factory=tdx.Policy)
    report_data: bytes | None = None
    worker: WorkerBinding | None = None

    def __post_init__(self) -> None:
        if self.report_data is not None and len(self.report_data) != 64:
            raise ValueError(f"EvidencePolicy.report_data has {len(self.report_data)} bytes. Expect 64")


DEFAULT_POLICY = EvidencePolicy()  # frozen and never written to, so one shared default is safe


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedEvidence:
    """Evidence whose signatures and vendor chain hold, in one shape for every kind.

    ``measurement``: the launch measurement (SNP MEASUREMENT, TDX MR_TD, SGX MRENCLAVE);
    ``measurements``: every measurement-like field by spec name (SNP: MEASUREMENT, HOST_DATA,
    FAMILY_ID, IMAGE_ID; TDX: MR_TD, RTMR0-RTMR3, MR_CONFIG_ID, MR_OWNER, MR_OWNER_CONFIG, MR_SEAM;
    SGX: MRENCLAVE, MRSIGNER). ``tcb_status``: Intel's TCB status for TDX/SGX; None for SNP, whose
    TCB is judged by ``sev.Policy.minimum_tcb`` against REPORTED_TCB. ``debug``: SNP guest POLICY.DEBUG,
    TDX TD_ATTRIBUTES.TUD.DEBUG, SGX ATTRIBUTES.DEBUG. ``trust``: the trust set that accepted it
    (``amd-production``, ``intel-production``, or the name of a dev / custom set). ``verified``: the
    kind's own result (``sev.VerifiedReport`` or ``tdx.VerifiedQuote``).
    """

    kind: EvidenceKind
    measurement: bytes
    measurements: dict[str, bytes]
    report_data: bytes
    tcb_status: tdx.TcbStatus | None
    advisory_ids: tuple[str, ...]
    debug: bool
    trust: str
    verified_at: int  # unix seconds
    verified: sev.VerifiedReport | tdx.VerifiedQuote


# --- verify -------------------------------------------------------------------------------------


def _snp_endorsement(evidence: Evidence | None, report: sev.Report) -> bytes | None:
    if evidence is None or not evidence.auxblob:
        return None
    certs = evidence.certificates()
    return certs.get("vlek" if report.signing_key is sev.SigningKey.VLEK else "vcek")


def _from_snp(verified: sev.VerifiedReport) -> VerifiedEvidence:
    r = verified.report
    return VerifiedEvidence(
        kind=EvidenceKind.SNP,
        measurement=r.measurement,
        measurements={
            "MEASUREMENT": r.measurement,
            "HOST_DATA": r.host_data,
            "FAMILY_ID": r.family_id,
            "IMAGE_ID": r.image_id,
        },
        report_data=r.report_data,
        tcb_status=None,
        advisory_ids=(),
        debug=r.guest_policy.debug,
        trust=verified.trust,
        verified_at=int(verified.verified_at.timestamp()),
        verified=verified,
    )


def _from_dcap(verified: tdx.VerifiedQuote, trust: str) -> VerifiedEvidence:
    body = verified.quote.body
    if isinstance(body, tdx.TdReport):
        kind = EvidenceKind.TDX
        measurement = body.mr_td
        measurements = {
            "MR_TD": body.mr_td,
            "RTMR0": body.rtmr0,
            "RTMR1": body.rtmr1,
            "RTMR2": body.rtmr2,
            "RTMR3": body.rtmr3,
            "MR_CONFIG_ID": body.mr_config_id,
            "MR_OWNER": body.mr_owner,
            "MR_OWNER_CONFIG": body.mr_owner_config,
            "MR_SEAM": body.mr_seam,
        }
    else:
        kind = EvidenceKind.SGX
        measurement = body.mr_enclave
        measurements = {"MRENCLAVE": body.mr_enclave, "MRSIGNER": body.mr_signer}
    return VerifiedEvidence(
        kind=kind,
        measurement=measurement,
        measurements=measurements,
        report_data=body.report_data,
        tcb_status=verified.status,
        advisory_ids=verified.advisory_ids,
        debug=body.debug,
        trust=trust,
        verified_at=verified.verified_at,
        verified=verified,
    )


def _dcap_trust(options: tdx.VerifyOptions) -> str:
    roots = options.trusted_roots
    if not roots or roots == (tdx.intel_sgx_root_ca_der(),):
        return INTEL_PRODUCTION_TRUST
    return CUSTOM_DCAP_TRUST


def _unpack(
    evidence: Evidence | bytes, kind: EvidenceKind | None
) -> tuple[bytes, Evidence | None, EvidenceKind]:
    if isinstance(evidence, Evidence):
        if evidence.kind == "tdx_report":
            raise ReportFormatError(
                "evidence is a TDREPORT (from /dev/tdx_guest). Expect a TDX quote: the host's quoting "
                "enclave must turn the TDREPORT into a quote first"
            )
        raw, env = evidence.blob, evidence
    elif isinstance(evidence, bytes | bytearray | memoryview):
        raw, env = bytes(evidence), None
    else:
        raise TypeError(f"evidence must be bytes or Evidence, got {type(evidence).__name__}")
    detected = detect_kind(raw) if kind is None else kind
    if env is not None:
        # configfs names its provider; a blob that contradicts it is not what the TEE produced.
        claimed = EvidenceKind.SNP if env.kind == "snp" else None
        if (claimed is EvidenceKind.SNP) != (detected is EvidenceKind.SNP):
            raise ReportFormatError(
                f"evidence kind: the {env.provider or env.source} provider says {env.kind}, "
                f"but the bytes are {detected}"
            )
    return raw, env, detected


def verify_evidence(
    evidence: Evidence | bytes,
    *,
    kind: EvidenceKind | None = None,
    collateral: tdx.Collateral | bytes | None = None,
    options: VerifyEvidenceOptions | None = None,
    policy: EvidencePolicy | None = DEFAULT_POLICY,
) -> VerifiedEvidence:
    """Verify ``evidence`` and validate it against ``policy``; return it in the common shape.

    ``kind``: None detects it from the bytes (``detect_kind``). ``collateral``: for SNP the VCEK/VLEK
    certificate (DER or PEM; None: the configfs certificate table of ``evidence``, else fetched through
    ``options.snp.kds``); for TDX/SGX the ``tdx.Collateral`` (None: every check that needs none runs,
    then ``CollateralUnavailable``). ``policy``: the default is a production policy; None skips the
    validate stage (authenticity only; the caller validates with ``validate_evidence``).
    """
    raw, env, kind = _unpack(evidence, kind)
    opts = options or VerifyEvidenceOptions()
    if kind is EvidenceKind.SNP:
        if isinstance(collateral, tdx.Collateral):
            raise TypeError("SNP evidence takes its VCEK/VLEK certificate (bytes) as collateral, not DCAP")
        snp_opts = opts.snp
        if opts.now is not None:
            now = opts.now
            when = now if isinstance(now, dt.datetime) else dt.datetime.fromtimestamp(now, dt.UTC)
            if when.tzinfo is None:
                raise ValueError("VerifyEvidenceOptions.now must be timezone-aware")
            snp_opts = dataclasses.replace(snp_opts, clock=FixedClock(when))
        report = sev.parse_report(raw)
        endorsement = collateral if collateral is not None else _snp_endorsement(env, report)
        result = _from_snp(sev.verify_report(report, snp_opts, endorsement=endorsement))
    else:
        if collateral is not None and not isinstance(collateral, tdx.Collateral):
            raise TypeError("TDX/SGX evidence takes a tdx.Collateral as collateral")
        dcap_opts = opts.dcap
        if opts.now is not None:
            dcap_opts = dataclasses.replace(dcap_opts, now=opts.now)
        verified = tdx.verify_quote(raw, collateral, dcap_opts)
        result = _from_dcap(verified, _dcap_trust(dcap_opts))
        if result.kind is not kind:
            raise ReportFormatError(
                f"evidence kind: asked for {kind}, but the quote is a {result.kind.upper()} quote"
            )
    if policy is not None:
        validate_evidence(result, policy)
    return result


# --- validate -----------------------------------------------------------------------------------


def validate_evidence(verified: VerifiedEvidence, policy: EvidencePolicy) -> None:
    """Raise one ``PolicyError`` listing every way ``verified`` breaks ``policy``; return if none."""
    violations: list[str] = []
    if verified.kind not in policy.kinds:
        allowed = ", ".join(sorted(policy.kinds)) or "none"
        violations.append(f"evidence kind is {verified.kind}. Expect one of {allowed}")
    try:
        if isinstance(verified.verified, sev.VerifiedReport):
            sev.validate_report(verified.verified, policy.snp)
        else:
            tdx.validate_quote(verified.verified, policy.dcap)
    except PolicyError as exc:
        violations.extend(exc.violations)
    if policy.report_data is not None and verified.report_data != policy.report_data:
        violations.append(f"REPORT_DATA is {verified.report_data.hex()}. Expect {policy.report_data.hex()}")
    if policy.worker is not None:
        want = policy.worker.report_data()
        if verified.report_data != want:
            violations.append(
                f"REPORT_DATA is {verified.report_data.hex()}. Expect the worker binding "
                'SHA-512("phala-agents/worker/v1" || genesis_hash || worker_pubkey || x25519_pub || '
                f"tls_spki_hash) = {want.hex()}"
            )
    if violations:
        raise PolicyError(violations)
